package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLsGateDeniesRead: ls reads a snapshot's trees back without a
// restore, so the gate is asked for read: with restore-within-residency the
// listing of a class held only in LU comes from LU, the denied site CH is
// named with its rule, and with LU's copy gone the listing is refused by
// the rule (exit 1), listing nothing.
func TestLsGateDeniesRead(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "register.bin"), noise(4<<10, 5), 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C2-I1-A1")
	os.WriteFile(filepath.Join(home, "policy.yaml"), []byte("classes:\n  - class: C2-I0-A0\n    jurisdictions: [LU]\n    restore-within-residency: true\n"), 0o644)

	r := run(t, home, "", "ls", "reg", "--recursive")
	if r.code != 0 || !strings.Contains(r.stdout, "register.bin") {
		t.Fatalf("ls from LU with CH denied: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "ch") || !strings.Contains(r.stderr, "residency-restore") {
		t.Fatalf("the site denied for read and its rule are not named:\n%s", r.stderr)
	}
	if err := os.RemoveAll(filepath.Join(dir, "site-lu")); err != nil {
		t.Fatal(err)
	}
	r = run(t, home, "", "ls", "reg", "--recursive")
	if r.code != ExitError || !strings.Contains(r.stderr, "policy denies read of reg") || strings.Contains(r.stdout, "register.bin") {
		t.Fatalf("ls with only the denied site left: exit %d, want %d naming the read denial\n%s%s", r.code, ExitError, r.stdout, r.stderr)
	}
}
