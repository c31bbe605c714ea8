package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/digital-embassy/embassy/internal/vault"
)

// TestMain lets the test binary stand in for other processes: the
// embassy command of the testscript scripts (script_test.go), and with
// EMBASSY_TEST_HOLD=op:home:dataset a process holding that dataset's lock
// for op (as the operation would) until stdin closes.
func TestMain(m *testing.M) {
	if v := os.Getenv("EMBASSY_TEST_HOLD"); v != "" {
		parts := strings.SplitN(v, ":", 3)
		os.Exit(holdLock(vault.Op(parts[0]), parts[1], parts[2]))
	}
	testscript.Main(m, map[string]func(){"embassy": scriptEmbassy})
}

func holdLock(op vault.Op, homeDir, dataset string) int {
	ctx := context.Background()
	v, err := vault.Open(ctx, homeDir, true, vault.Options{})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer v.Close()
	dk, err := v.Repo.Dataset(ctx, dataset)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	unlock, err := v.LockDataset(ctx, op, dk)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin)
	unlock()
	return 0
}

func holdIn(t *testing.T, home, dataset string, op vault.Op) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EMBASSY_TEST_HOLD="+string(op)+":"+home+":"+dataset)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "held" {
		_ = in.Close()
		_ = cmd.Wait()
		t.Fatalf("holder of %s: %q", op, line)
	}
	return func() { _ = in.Close(); _ = cmd.Wait() }
}

// TestCLILocksAgainstPrune (issue 11.8): while another process prunes or
// forgets a dataset, restore, verify, ls, sync and repair refuse with the
// locked exit code and name the operation holding the lock; while another
// process snapshots or restores it, they all run.
func TestCLILocksAgainstPrune(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := writeSrc(t, dir, 3)
	mustRun(t, home, "snapshot", "ds", src, "--class", "C1-I1-A1")
	readers := map[string][]string{
		"restore": {"restore", "ds", "--target", filepath.Join(dir, "out")},
		"verify":  {"verify"},
		"ls":      {"ls", "ds"},
		"sync":    {"site", "sync"},
		"repair":  {"repair", "--dry-run"},
	}
	for _, held := range []vault.Op{vault.OpPrune, vault.OpForget} {
		release := holdIn(t, home, "ds", held)
		for name, args := range readers {
			r := run(t, home, "", args...)
			want := regexp.MustCompile(fmt.Sprintf(`^embassy: error: %s cannot start: dataset ds is locked by %s \(pid [0-9]+, since [0-9TZ:-]+\)\n`, name, held) +
				`embassy: hint: wait for it to finish and run again, or pass --retry-lock DURATION \(e\.g\. --retry-lock 10m\) to wait for it\n$`)
			if r.code != ExitLocked || !want.MatchString(r.stderr) {
				t.Errorf("%s while %s holds the lock: exit %d, want %d and %s\n%s", name, held, r.code, ExitLocked, want, r.stderr)
			}
		}
		release()
	}
	for _, held := range []vault.Op{vault.OpSnapshot, vault.OpRestore} {
		release := holdIn(t, home, "ds", held)
		for name, args := range readers {
			if name == "restore" {
				args = append(args, "--overwrite")
			}
			if r := run(t, home, "", args...); r.code != ExitOK {
				t.Errorf("%s while %s holds the lock: exit %d\n%s", name, held, r.code, r.stderr)
			}
		}
		release()
	}
}
