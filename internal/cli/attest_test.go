package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/attest"
)

// The CLI behaviour of attest verify (claims, refusals, usage) is the
// script testdata/script/attest.txtar; what stays here needs Go: the
// offline cache's file name and a byte flipped at an offset.

func vec(name string) string { return filepath.Join("..", "attest", "testdata", name) }

const attestHint = "embassy: hint: nothing would be released for this evidence; collect fresh evidence, or check --certs, --cache and --nonce\n"

// The offline VCEK cache: a directory holding the VCEK under its KDS URL.
func TestAttestVerifyCLICache(t *testing.T) {
	home := t.TempDir()
	dir := t.TempDir()
	rep, err := os.ReadFile(vec("snp/test-report.bin"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := attest.VCEKCacheKey(rep, "Milan")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"attest", "verify", "--tee", "snp", "--evidence", vec("snp/test-report.bin"), "--cache", dir}
	r := run(t, home, "", args...)
	if want := "embassy: error: attestation refused: snp: the VCEK for chip c38427a30d4c7af9d96f7a15b9726982… at this TCB is not in the offline cache (looked up https://kdsintf.amd.com/vcek/v1/Turin/c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115)\n" + attestHint; r.code != ExitDamaged || r.stderr != want {
		t.Fatalf("empty cache: exit %d, want %d\n%s\nwant:\n%s", r.code, ExitDamaged, r.stderr, want)
	}
	vcek, _ := os.ReadFile(vec("snp/test-vcek.der"))
	os.WriteFile(filepath.Join(dir, attest.CacheFileName(key)), vcek, 0o644)
	if r := run(t, home, "", args...); r.code != 0 || r.stderr != "" {
		t.Fatalf("filled cache: exit %d: %s", r.code, r.stderr)
	}
	// A revoked VCEK (by fingerprint) is refused even from the cache.
	sum := sha256.Sum256(vcek)
	fp := "sha256:" + hex.EncodeToString(sum[:])
	r = run(t, home, "", append(args, "--revoke", fp)...)
	if want := "embassy: error: attestation refused: snp: the VCEK certificate (" + fp + ") is revoked\n" + attestHint; r.code != ExitDamaged || r.stderr != want {
		t.Fatalf("revoked: exit %d, want %d\n%s\nwant:\n%s", r.code, ExitDamaged, r.stderr, want)
	}
}

// A TDX version 5 quote with one bit of its report data flipped is refused
// (exit 3): the quote's signature no longer covers it. The untouched quote
// verifies in attest.txtar.
func TestAttestVerifyCLITDXv5Tampered(t *testing.T) {
	home := t.TempDir()
	raw, err := os.ReadFile(vec("tdx_quote_5.dat"))
	if err != nil {
		t.Fatal(err)
	}
	raw[54+530] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.dat")
	if err := os.WriteFile(bad, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, home, "", "attest", "verify", "--tee", "tdx", "--evidence", bad)
	if want := "embassy: error: attestation refused: tdx: quote does not verify: the quote signature over header and TD report is not the attestation key's\n" + attestHint; r.code != ExitDamaged || r.stderr != want {
		t.Fatalf("tampered v5: exit %d, want %d\n%s\nwant:\n%s", r.code, ExitDamaged, r.stderr, want)
	}
}
