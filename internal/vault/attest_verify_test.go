package vault

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/hint"
)

func attestVec(name string) string { return filepath.Join("..", "attest", "testdata", name) }

const gpuNonce = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"

// VerifyAttestation: recorded GPU evidence verifies with its nonce and is
// refused (CodeDamaged, with the broker's hint) with another one or with a
// reference measurement it does not match; bad requests are usage errors
// that read nothing.
func TestVerifyAttestation(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	gpu := AttestRequest{TEE: "nvidia", Evidence: attestVec("nvidia/hopperAttestationReport.txt"),
		Certs: attestVec("nvidia/hopper_cert_chain_case1.txt"), Nonce: gpuNonce, Now: now}
	c, err := VerifyAttestation(gpu)
	if err != nil {
		t.Fatal(err)
	}
	if c.TEE != attest.TEE("nvidia") || c.Measurements["measurement1"] == "" {
		t.Fatalf("claims = %+v", c)
	}
	wrong := gpu
	wrong.Nonce = "00"
	if _, err := VerifyAttestation(wrong); hint.CodeOf(err) != hint.CodeDamaged || !strings.Contains(hint.Of(err), "nothing would be released") {
		t.Fatalf("wrong nonce: %v (code %d, hint %q)", err, hint.CodeOf(err), hint.Of(err))
	}
	ref := filepath.Join(t.TempDir(), "ref.json")
	if err := os.WriteFile(ref, []byte(`{"measurement1": "01"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	off := gpu
	off.Reference = ref
	if _, err := VerifyAttestation(off); hint.CodeOf(err) != hint.CodeDamaged {
		t.Fatalf("reference mismatch: %v (code %d)", err, hint.CodeOf(err))
	}

	tpm := attestVec("tpm_evidence.json")
	for _, tc := range []struct {
		name string
		r    AttestRequest
		want string
	}{
		{"no tee", AttestRequest{Evidence: tpm}, "give --tee and --evidence"},
		{"unknown tee", AttestRequest{TEE: "sgx", Evidence: tpm}, `--tee "sgx": use one of ` + AttestTEEs()},
		{"nonce", AttestRequest{TEE: "tpm", Evidence: tpm, Nonce: "xyz"}, `--nonce "xyz" is not hex`},
		{"at", AttestRequest{TEE: "tpm", Evidence: tpm, At: "yesterday"}, `--at "yesterday": use an RFC 3339 time`},
		{"with", AttestRequest{TEE: "tpm", Evidence: tpm, With: []string{"nvidia"}}, `--with "nvidia": use TEE=FILE[,CERTS]`},
		{"with stdin", AttestRequest{TEE: "tpm", Evidence: tpm, With: []string{"nvidia=-"}}, "a part cannot be read from stdin"},
		{"cache", AttestRequest{TEE: "tpm", Evidence: tpm, Cache: tpm}, "is not a directory"},
	} {
		_, err := VerifyAttestation(tc.r)
		if hint.CodeOf(err) != hint.CodeUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (code %d), want a usage error with %q", tc.name, err, hint.CodeOf(err), tc.want)
		}
	}
	if _, err := VerifyAttestation(AttestRequest{TEE: "tpm", Evidence: filepath.Join(t.TempDir(), "missing")}); hint.CodeOf(err) != hint.CodeError || hint.Of(err) != "check the --evidence path" {
		t.Fatalf("missing evidence: %v", err)
	}
}
