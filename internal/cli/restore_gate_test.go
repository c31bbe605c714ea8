package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreGateDeniesOutsideResidency: with restore-within-residency a
// class held only in LU is never restored from the copy in CH: the
// restore reads LU, names the denied site and its rule, and logs the
// restore; with LU's copy gone, the restore is refused with the rule
// (not "no site available") and nothing is written.
func TestRestoreGateDeniesOutsideResidency(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	want := noise(64<<10, 3)
	os.WriteFile(filepath.Join(src, "register.bin"), want, 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C2-I1-A1")
	os.WriteFile(filepath.Join(home, "policy.yaml"), []byte("classes:\n  - class: C2-I0-A0\n    jurisdictions: [LU]\n    restore-within-residency: true\n"), 0o644)

	target := filepath.Join(dir, "out")
	r := run(t, home, "", "restore", "reg", "--target", target)
	if b, _ := os.ReadFile(filepath.Join(target, "register.bin")); r.code != 0 || !bytes.Equal(b, want) {
		t.Fatalf("restore from LU with CH denied: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "ch") || !strings.Contains(r.stderr, "residency-restore") {
		t.Fatalf("the denied site and its rule are not named:\n%s", r.stderr)
	}

	if err := os.RemoveAll(filepath.Join(dir, "site-lu")); err != nil {
		t.Fatal(err)
	}
	target2 := filepath.Join(dir, "out2")
	r = run(t, home, "", "restore", "reg", "--target", target2)
	if r.code != ExitError || !strings.Contains(r.stderr, "residency-restore") || strings.Contains(r.stderr, "no site available") {
		t.Fatalf("restore with only the denied site left: exit %d, want %d (nothing restored) naming the rule\n%s", r.code, ExitError, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(target2, "register.bin")); err == nil {
		t.Fatal("a denied restore wrote the file")
	}
}

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
