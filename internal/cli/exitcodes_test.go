package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/digital-embassy/embassy/internal/vault"
)

// TestExitCodes checks every row of 'embassy help exit-codes' with the
// command that should produce it (issue 11.11).
func TestExitCodes(t *testing.T) {
	dir, home, ids := setup(t)
	src := writeSrc(t, dir, 2)
	mustRun(t, home, "snapshot", "ds", src, "--class", "C1-I1-A1")

	// a second home with one site that is broken: nothing can be saved
	_, lone, _ := setup(t)
	mustRun(t, lone, "site", "remove", "ch")
	loneSite := filepath.Join(filepath.Dir(lone), "site-lu")
	if err := os.RemoveAll(loneSite); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(loneSite, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}

	// a source with a socket, which a snapshot leaves out
	sockSrc := filepath.Join(dir, "sock-src")
	if err := os.MkdirAll(sockSrc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sockSrc, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(sockSrc, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	// a home with one site, for a class that asks for two copies
	_, single, _ := setup(t)
	mustRun(t, single, "site", "remove", "ch")

	for _, tc := range []struct {
		name string
		home string
		args []string
		code int
		want string // on stderr
	}{
		{"ok", home, []string{"snapshots"}, ExitOK, ""},
		{"error: unknown dataset", home, []string{"restore", "nope", "--target", dir}, ExitError, "not found"},
		{"error: nothing saved when every site fails", lone, []string{"snapshot", "ds", src, "--class", "C1-I1-A1"}, ExitError, "nothing saved"},
		{"usage: missing argument", home, []string{"restore"}, ExitUsage, "accepts 1 arg(s), received 0"},
		{"usage: unknown command", home, []string{"snapshott"}, ExitUsage, `unknown command "snapshott" for "embassy" (did you mean "snapshot"?)`},
		{"usage: unknown subcommand", home, []string{"site", "bogus"}, ExitUsage, `unknown command "bogus" for "embassy site"`},
		{"usage: unknown flag", home, []string{"snapshot", "--nope"}, ExitUsage, "unknown flag: --nope"},
		// A socket is not data: it is noted and the snapshot is complete
		// (issue 11 item 5). Files that could not be read exit 3
		// (TestUnreadableSourceFile in cmd/embassy).
		{"ok: socket noted, snapshot complete", home, []string{"snapshot", "sock", sockSrc, "--class", "C1-I1-A1"}, ExitOK, "1 sockets not stored"},
		{"partial: policy shortfall", single, []string{"snapshot", "crit", src, "--class", "C0-I0-A3"}, ExitDamaged, "needs 2 copies at sites; 1 available (class rule min-copies in policy.yaml)"},
		{"keys: one share of two", filepath.Join(dir, "h-rec"), []string{"recover", "--site", filepath.Join(dir, "site-lu"), "--identity", ids[0]}, ExitKey, "2 of 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.home, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("embassy %v: exit %d (want %d)\nstderr: %s\nwant: %s", tc.args, r.code, tc.code, r.stderr, tc.want)
			}
		})
	}

	t.Run("locked", func(t *testing.T) {
		release := holdIn(t, home, "ds", vault.OpPrune)
		defer release()
		expect(t, home, ExitLocked, []string{"restore", "ds", "--target", filepath.Join(dir, "locked")}, "restore cannot start: dataset ds is locked by prune")
	})
	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errb strings.Builder
		code := Main(ctx, []string{"--home", home, "--progress", "never", "restore", "ds", "--target", filepath.Join(dir, "int")}, strings.NewReader(""), &out, &errb)
		if code != ExitInterrupted || !strings.Contains(errb.String(), "interrupted") {
			t.Errorf("interrupted restore: exit %d\n%s", code, errb.String())
		}
	})
	t.Run("partial: damage found", func(t *testing.T) {
		if err := os.RemoveAll(filepath.Join(dir, "site-ch")); err != nil {
			t.Fatal(err)
		}
		expect(t, home, ExitDamaged, []string{"verify"}, "problem(s) found")
	})
}

// TestClassBelongsToDataset (issue 11.12): a class given once is the
// dataset's, for stdin snapshots, --force runs and other paths alike.
func TestClassBelongsToDataset(t *testing.T) {
	dir, home, _ := setup(t)
	src := writeSrc(t, dir, 2)
	other := filepath.Join(dir, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "b.txt"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, home, "snapshot", "ds", src, "--class", "restricted")
	for _, tc := range []struct {
		name, stdin string
		args        []string
	}{
		{"stdin", "a stream\n", []string{"snapshot", "ds", "-"}},
		{"force", "", []string{"snapshot", "ds", src, "--force"}},
		{"other path", "", []string{"snapshot", "ds", other}},
	} {
		r := run(t, home, tc.stdin, append([]string{"--json"}, tc.args...)...)
		if r.code != ExitOK || !strings.Contains(r.stdout, `"class": "C2-I3-A3"`) {
			t.Errorf("%s: exit %d, want the dataset's class C2-I3-A3\nstdout: %s\nstderr: %s", tc.name, r.code, r.stdout, r.stderr)
		}
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
	for _, args := range [][]string{
		{"restore", "ds", "--target", filepath.Join(dir, "out")},
		{"verify"},
		{"snapshot", "ds", src},
		{"site", "sync"},
	} {
		r := run(t, ro, "", args...)
		if r.code != ExitError || strings.Contains(r.stderr, "panic") || !strings.Contains(r.stderr, "embassy: error: ") ||
			!strings.Contains(r.stderr, "embassy: hint: the home must be writable by this user") {
			t.Errorf("embassy %v on a read-only home: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}
