package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/digital-embassy/embassy/internal/vault"
)

// The exit codes 0 to 4 of 'embassy help exit-codes', and a class given
// once being the dataset's, are the script testdata/script/exitcodes.txtar.
// What stays here needs Go: a lock held by another process (5), a
// cancelled context (130), a socket in the source, a read-only mount.

// TestExitCodesLockedInterrupted: a restore while another process prunes
// exits 5 naming the holder; a restore whose context is cancelled exits 130.
func TestExitCodesLockedInterrupted(t *testing.T) {
	dir, home, _ := setup(t)
	src := writeSrc(t, dir, 1)
	mustRun(t, home, "snapshot", "ds", src, "--class", "C1-I1-A1")

	release := holdIn(t, home, "ds", vault.OpPrune)
	r := run(t, home, "", "restore", "ds", "--target", filepath.Join(dir, "locked"))
	release()
	want := regexp.MustCompile(`^embassy: error: restore cannot start: dataset ds is locked by prune \(pid [0-9]+, since [^)]+\)\nembassy: hint: wait for it to finish and run again, or pass --retry-lock DURATION \(e\.g\. --retry-lock 10m\) to wait for it\n$`)
	if r.code != ExitLocked || !want.MatchString(r.stderr) {
		t.Errorf("restore while pruned: exit %d, want %d\n%s\nwant: %s", r.code, ExitLocked, r.stderr, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb strings.Builder
	code := Main(ctx, []string{"--home", home, "--progress", "never", "restore", "ds", "--target", filepath.Join(dir, "int")}, strings.NewReader(""), &out, &errb)
	if wantErr := "embassy: warning: site lu is unavailable: context canceled\nembassy: warning: site ch is unavailable: context canceled\n" +
		"embassy: interrupted; everything committed before the interruption is intact\n"; code != ExitInterrupted || errb.String() != wantErr {
		t.Errorf("interrupted restore: exit %d, want %d\n%s\nwant:\n%s", code, ExitInterrupted, errb.String(), wantErr)
	}
}

// TestSocketNotStored: a socket is not data: it is noted and the snapshot
// is complete (issue 11 item 5). Files that could not be read exit 3
// (TestUnreadableSourceFile in cmd/embassy).
func TestSocketNotStored(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "sock-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(src, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := run(t, home, "", "snapshot", "sock", src, "--class", "C1-I1-A1")
	if want := "embassy: note: 1 sockets not stored: a socket is recreated by the program that listens on it\n"; r.code != ExitOK || r.stderr != want {
		t.Errorf("snapshot with a socket: exit %d\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
}

// TestReadOnlyHome (issue 11.10): a home on a read-only file system is an
// error with a hint, never a panic.
func TestReadOnlyHome(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a read-only bind mount needs root")
	}
	dir, home, _ := setup(t)
	src := writeSrc(t, dir, 2)
	mustRun(t, home, "snapshot", "ds", src, "--class", "C1-I1-A1")
	ro := filepath.Join(dir, "home-ro")
	if err := os.MkdirAll(ro, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", "-o", "ro", home, ro).CombinedOutput(); err != nil {
		t.Skipf("cannot bind-mount read-only: %v %s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(ro, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", ro, err)
		}
	})
	roErr := regexp.MustCompile(`^embassy: error: locks folder ` + regexp.QuoteMeta(ro) + `/locks: open ` + regexp.QuoteMeta(ro) + `/locks/dataset-[0-9a-f]{32}\.lock: read-only file system$`)
	const roHint = "embassy: hint: the home must be writable by this user: check its permissions, its free space and that it is not mounted read-only"
	for _, args := range [][]string{
		{"restore", "ds", "--target", filepath.Join(dir, "out")},
		{"verify"},
		{"snapshot", "ds", src},
		{"site", "sync"},
	} {
		// warnings (the log cannot be written either), then the error
		// naming the first file that cannot be written, and the hint
		r := run(t, ro, "", args...)
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		ok := r.code == ExitError && len(lines) >= 2 && roErr.MatchString(lines[len(lines)-2]) && lines[len(lines)-1] == roHint
		for _, l := range lines[:max(len(lines)-2, 0)] {
			ok = ok && strings.HasPrefix(l, "embassy: warning: ")
		}
		if !ok {
			t.Errorf("embassy %v on a read-only home: exit %d, want %d\n%s\nwant warnings, then %s\n%s", args, r.code, ExitError, r.stderr, roErr, roHint)
		}
	}
}
