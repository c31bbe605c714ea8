package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/repo"
)

// The operator-mistake behaviours (missing root key, empty embassy.yaml,
// escaped names in ls, site check --create) are the script
// testdata/script/operator.txtar. What stays here needs Go: the default
// home under $XDG_CONFIG_HOME, a full disk (a tmpfs), the repair hint.

// runDefault runs the CLI without --home, so that the default home (under
// $XDG_CONFIG_HOME) applies.
func runDefault(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"--progress", "never"}, args...), strings.NewReader(""), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// TestQuickstartOwnFolder: quickstart without --home puts the demo in its
// own folder, says how to remove it, and a newcomer's first real init in
// the default home then works (issue 11.16).
func TestQuickstartOwnFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("quickstart generates a registry")
	}
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("EMBASSY_HOME", "")
	os.Unsetenv("EMBASSY_HOME")
	r := runDefault(t, "quickstart", "--rows", "500", "--documents", "2")
	if r.code != 0 {
		t.Fatalf("quickstart: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	demo := filepath.Join(cfg, "embassy-quickstart")
	if want := "The demo is self-contained: remove it with  rm -rf " + demo; !slices.Contains(strings.Split(r.stdout, "\n"), want) {
		t.Fatalf("quickstart does not say how to remove the demo (%q):\n%s", want, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(cfg, "embassy")); !os.IsNotExist(err) {
		t.Fatalf("quickstart wrote into the default home: %v", err)
	}
	key := filepath.Join(t.TempDir(), "a.key")
	rec := strings.TrimSpace(runDefault(t, "custodian", "keygen", "-o", key).stdout)
	if r := runDefault(t, "init", "--custodian", rec, "--threshold", "1"); r.code != 0 {
		t.Fatalf("init after quickstart: %d\n%s", r.code, r.stderr)
	}
}

// fullDiskHome is a home on a 16 MiB tmpfs with one site and one
// snapshot of src, then the tmpfs filled up (the file fill). Needs root.
func fullDiskHome(t *testing.T) (home, src, fill string) {
	t.Helper()
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	dir := t.TempDir()
	home = filepath.Join(mnt, "home")
	rec := strings.TrimSpace(mustRun(t, home, "custodian", "keygen", "-o", filepath.Join(dir, "a.key")))
	mustRun(t, home, "init", "--custodian", rec, "--threshold", "1")
	mustRun(t, home, "site", "add", "lu", "--url", filepath.Join(dir, "site"), "--jurisdiction", "LU")
	src = filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("one\n"), 0o644)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	fill = filepath.Join(mnt, "fill")
	exec.Command("dd", "if=/dev/zero", "of="+fill, "bs=64k").Run() // until the disk is full
	return home, src, fill
}

// TestHomeDiskFull: with the home's disk full, operations that change the
// vault are refused before they change anything, saying why and what to
// do, and work again once there is room (issue 11.16). Needs root (mount).
func TestHomeDiskFull(t *testing.T) {
	home, src, fill := fullDiskHome(t)
	for _, args := range [][]string{{"snapshot", "registry", src, "--class", "internal"}, {"forget", "registry", "latest"}, {"prune"}} {
		r := run(t, home, "", args...)
		// warnings (the log cannot take the key unwraps either), then the refusal
		want := regexp.MustCompile(`^(embassy: warning: [^\n]*\n)*embassy: error: ` + args[0] + ` refused: the disk holding the home ` + regexp.QuoteMeta(home) +
			` is full \([0-9]+ KiB free\): the operation could not be recorded in the transparency log\n` +
			`embassy: hint: free space on that disk \(or move the home to a bigger one\) and run it again; nothing was changed\n$`)
		if r.code != ExitError || !want.MatchString(r.stderr) {
			t.Fatalf("%v on a full home disk: exit %d, want %d, the error naming the full disk and the hint\n%s", args, r.code, ExitError, r.stderr)
		}
	}
	var snaps []json.RawMessage
	if out := mustRun(t, home, "--json", "snapshots", "registry"); json.Unmarshal([]byte(out), &snaps) != nil || len(snaps) != 1 {
		t.Fatalf("snapshots changed while refused:\n%s", out)
	}
	os.Remove(fill)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	mustRun(t, home, "verify")
}

// TestRepairHintNamesTheFailedWrite: when an intact copy exists but cannot
// be written to the damaged site, the hint says so instead of claiming that
// no site holds a copy (issue 11.14).
func TestRepairHintNamesTheFailedWrite(t *testing.T) {
	if got, want := repairHint([]repo.RepairAction{{Site: "worm", Object: "data/x", From: "local", Error: "put: object already exists"}}),
		"an intact copy exists (at local) but writing it to site worm failed: see the FAILED lines, fix the site and run repair again"; got != want {
		t.Fatalf("hint %q, want %q", got, want)
	}
	if got, want := repairHint([]repo.RepairAction{{Site: "worm", Object: "data/x", Error: "no other site holds a copy"}}),
		"no site holds an intact copy of these objects; see 'embassy verify'"; got != want {
		t.Fatalf("hint %q, want %q", got, want)
	}
}
