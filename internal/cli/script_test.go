package cli

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptEmbassy is the embassy command inside the scripts: the real CLI,
// in a process of its own. Its exit code is also written to
// $EMBASSY_TEST_EXITFILE for the 'exits' command.
func scriptEmbassy() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if f := os.Getenv("EMBASSY_TEST_EXITFILE"); f != "" {
		_ = os.WriteFile(f, []byte(strconv.Itoa(code)), 0o600)
	}
	os.Exit(code)
}

// TestScripts runs the CLI's behaviour scripts, testdata/script/*.txtar:
// real commands, exact exit codes ('exits N' after '! embassy ...') and
// golden output ('cmp stdout FILE'). Each script has its own home, sites
// and environment, so they run in parallel. Set EMBASSY_UPDATE_GOLDEN=1
// to rewrite the golden files from the actual output.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           filepath.Join("testdata", "script"),
		UpdateScripts: os.Getenv("EMBASSY_UPDATE_GOLDEN") == "1",
		Setup: func(env *testscript.Env) error {
			env.Setenv("EMBASSY_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("EMBASSY_PROGRESS", "never")
			env.Setenv("EMBASSY_TEST_EXITFILE", filepath.Join(env.WorkDir, ".exitcode"))
			env.Setenv("EMBASSY_NOW", "2026-11-25T10:00:00Z")
			env.Setenv("TZ", "UTC")
			// the attestation package's recorded evidence (read only)
			vectors, err := filepath.Abs(filepath.Join("..", "attest", "testdata"))
			if err != nil {
				return err
			}
			env.Setenv("VECTORS", vectors)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// mask SRC DST REGEXP REPL...: DST is SRC (stdout, stderr or a
			// file) with each REGEXP replaced by its REPL (literally), for the random
			// parts of an output (home and snapshot ids, pids) before cmp.
			"mask": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 4 || len(args)%2 != 0 {
					ts.Fatalf("usage: mask SRC DST REGEXP REPL [REGEXP REPL...]")
				}
				text := ts.ReadFile(args[0])
				for i := 2; i < len(args); i += 2 {
					re, err := regexp.Compile(args[i])
					ts.Check(err)
					text = re.ReplaceAllLiteralString(text, args[i+1])
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(text), 0o644))
			},
			// exits N: the last embassy command exited with code N.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: exits CODE")
				}
				b, err := os.ReadFile(ts.MkAbs(".exitcode"))
				ts.Check(err)
				if got := strings.TrimSpace(string(b)); got != args[0] {
					ts.Fatalf("embassy exited with %s, want %s", got, args[0])
				}
			},
		},
	})
}
