package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/attest"
)

func vec(name string) string { return filepath.Join("..", "attest", "testdata", name) }

func TestAttestVerifyCLI(t *testing.T) {
	home := t.TempDir()
	// Valid SNP evidence: exit 0, claims as JSON.
	r := run(t, home, "", "--json", "attest", "verify", "--tee", "snp", "--evidence", vec("snp/test-report.bin"), "--certs", vec("snp/test-vcek.der"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var c attest.Claims
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatal(err)
	}
	if c.TEE != attest.SNP || c.Platform["signer"] != "VCEK" || len(c.ReportData) != 64 {
		t.Fatalf("claims %+v", c)
	}

	// A refused chain: exit 3 with the reason and a hint.
	r = run(t, home, "", "attest", "verify", "--tee", "nvidia", "--evidence", vec("nvidia/hopperAttestationReport.txt"), "--certs", vec("nvidia/hopper_cert_chain_case3.txt"))
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "chain does not verify") || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	// Nonce: right one passes, wrong one is refused.
	gpu := []string{"attest", "verify", "--tee", "nvidia", "--evidence", vec("nvidia/hopperAttestationReport.txt"), "--certs", vec("nvidia/hopper_cert_chain_case1.txt")}
	r = run(t, home, "", append(gpu, "--nonce", "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb")...)
	if r.code != 0 || !strings.Contains(r.stdout, "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, home, "", append(gpu, "--nonce", "00")...)
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "does not match the expected nonce") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	// Composite: TDX CPU plus the GPU; then with a bad GPU chain.
	r = run(t, home, "", "--json", "attest", "verify", "--tee", "tdx", "--evidence", vec("tdx_quote_4.dat"),
		"--with", "nvidia="+vec("nvidia/hopperAttestationReport.txt")+","+vec("nvidia/hopper_cert_chain_case1.txt"))
	if r.code != 0 {
		t.Fatalf("composite exit %d: %s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || len(c.Parts) != 2 {
		t.Fatalf("composite claims %s: %v", r.stdout, err)
	}
	r = run(t, home, "", "attest", "verify", "--tee", "tdx", "--evidence", vec("tdx_quote_4.dat"),
		"--with", "nvidia="+vec("nvidia/hopperAttestationReport.txt")+","+vec("nvidia/hopper_cert_chain_case2.txt"))
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "composite part 1 (nvidia)") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	// Reference measurements: PCR 7 off by one bit is refused.
	ref := filepath.Join(home, "ref.json")
	os.WriteFile(ref, []byte(`{"pcr7": "0000000000000000000000000000000000000000000000000000000000000001"}`), 0o644)
	r = run(t, home, "", "attest", "verify", "--tee", "tpm", "--evidence", vec("tpm_evidence.json"), "--reference", ref)
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "pcr7 is 00") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	// VLEK: expired now, valid as of when it was recorded.
	vlek := []string{"attest", "verify", "--tee", "snp", "--evidence", vec("snp/test-vlek-report.bin"), "--certs", vec("snp/test-vlek.der")}
	if r = run(t, home, "", vlek...); r.code != ExitDamaged || !strings.Contains(r.stderr, "expired") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r = run(t, home, "", append(vlek, "--at", "2025-01-01T00:00:00Z")...); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	// Evidence from stdin; garbage is refused, never a crash.
	if r = run(t, home, "garbage", "attest", "verify", "--tee", "az-snp-vtpm", "--evidence", "-"); r.code != ExitDamaged {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

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
	if r := run(t, home, "", args...); r.code != ExitDamaged || !strings.Contains(r.stderr, "not in the offline cache") {
		t.Fatalf("empty cache: exit %d: %s", r.code, r.stderr)
	}
	vcek, _ := os.ReadFile(vec("snp/test-vcek.der"))
	os.WriteFile(filepath.Join(dir, attest.CacheFileName(key)), vcek, 0o644)
	if r := run(t, home, "", args...); r.code != 0 {
		t.Fatalf("filled cache: exit %d: %s", r.code, r.stderr)
	}
	// A revoked VCEK (by fingerprint) is refused even from the cache.
	sum := sha256.Sum256(vcek)
	if r := run(t, home, "", append(args, "--revoke", "sha256:"+hex.EncodeToString(sum[:]))...); r.code != ExitDamaged || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("revoked: exit %d: %s", r.code, r.stderr)
	}
}

func TestAttestVerifyCLIUsage(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{
		{"attest", "verify", "--evidence", vec("tpm_evidence.json")},
		{"attest", "verify", "--tee", "sgx", "--evidence", vec("tpm_evidence.json")},
		{"attest", "verify", "--tee", "tpm", "--evidence", vec("tpm_evidence.json"), "--nonce", "xyz"},
		{"attest", "verify", "--tee", "tpm", "--evidence", vec("tpm_evidence.json"), "--at", "yesterday"},
		{"attest", "verify", "--tee", "tpm", "--evidence", vec("tpm_evidence.json"), "--with", "nvidia"},
	} {
		if r := run(t, home, "", args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
	if r := run(t, home, "", "attest", "verify", "--tee", "tpm", "--evidence", filepath.Join(home, "missing")); r.code != ExitError || !strings.Contains(r.stderr, "check the --evidence path") {
		t.Errorf("missing file: exit %d: %s", r.code, r.stderr)
	}
}

// A TDX version 5 quote (TD report 1.5) verifies offline through the CLI,
// with its nonce; one bit of its report data flipped is refused (exit 3).
func TestAttestVerifyCLITDXv5(t *testing.T) {
	home := t.TempDir()
	rd := "6d6ab13b046cff606ac0074be13981b07b6325dba10b5facc96febf551c0c3be2b75f92fe1f88f4bb996969ad0174b4b7a70261b7b85c844f4b33a4674fd049f"
	r := run(t, home, "", "--json", "attest", "verify", "--tee", "tdx", "--evidence", vec("tdx_quote_5.dat"), "--nonce", rd)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var c attest.Claims
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatal(err)
	}
	if c.Platform["version"] != "5" || c.Platform["body_type"] != "td_report_1.5" || c.Measurements["mrtd"] != "dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8a1e9de86e7c9638bfcba422f3886400a" {
		t.Fatalf("claims %+v", c)
	}
	raw, err := os.ReadFile(vec("tdx_quote_5.dat"))
	if err != nil {
		t.Fatal(err)
	}
	raw[54+530] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.dat")
	os.WriteFile(bad, raw, 0o644)
	r = run(t, home, "", "attest", "verify", "--tee", "tdx", "--evidence", bad)
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "quote signature") {
		t.Fatalf("tampered v5: exit %d: %s", r.code, r.stderr)
	}
}
