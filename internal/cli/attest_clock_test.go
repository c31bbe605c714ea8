package cli

import (
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// attest verify checks certificate validity at the vault's clock
// (EMBASSY_NOW in test builds), not the system's: the VLEK of the
// recorded SNP evidence expired on 2025-12-10, so it verifies with the
// clock before that and is refused after, with no --at. The expected
// output is attest.txtar's (which pins it with --at).
func TestAttestVerifyVaultClock(t *testing.T) {
	ar, err := txtar.ParseFile(filepath.Join("testdata", "script", "attest.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	golden := map[string]string{}
	for _, f := range ar.Files {
		golden[f.Name] = string(f.Data)
	}
	if golden["vlek.txt"] == "" || golden["vlek-expired.txt"] == "" {
		t.Fatal("attest.txtar lost its vlek.txt or vlek-expired.txt")
	}
	home := t.TempDir()
	args := []string{"attest", "verify", "--tee", "snp", "--evidence", vec("snp/test-vlek-report.bin"), "--certs", vec("snp/test-vlek.der")}

	t.Setenv("EMBASSY_NOW", "2025-01-01T00:00:00Z")
	if r := run(t, home, "", args...); r.code != 0 || r.stdout != golden["vlek.txt"] || r.stderr != "" {
		t.Fatalf("clock before the VLEK's expiry: exit %d\nstdout:\n%s\nstderr:\n%s\nwant stdout:\n%s", r.code, r.stdout, r.stderr, golden["vlek.txt"])
	}
	t.Setenv("EMBASSY_NOW", "2026-11-25T10:00:00Z")
	if r := run(t, home, "", args...); r.code != ExitDamaged || r.stdout != "" || r.stderr != golden["vlek-expired.txt"] {
		t.Fatalf("clock after the VLEK's expiry: exit %d, want %d\nstderr:\n%s\nwant:\n%s", r.code, ExitDamaged, r.stderr, golden["vlek-expired.txt"])
	}
	// --at still overrides the clock.
	if r := run(t, home, "", append(args, "--at", "2025-01-01T00:00:00Z")...); r.code != 0 || r.stdout != golden["vlek.txt"] {
		t.Fatalf("--at before the expiry: exit %d\n%s", r.code, r.stderr)
	}
}
