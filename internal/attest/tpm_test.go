package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRefuse(t *testing.T, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want a refusal mentioning %q", reason)
	}
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("error %v does not wrap ErrRefused", err)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Fatalf("refusal %q does not name the reason %q", err, reason)
	}
}

// The trustee vector: an RSA AK, all 24 SHA-256 PCRs, a 64-byte extraData.
func TestTPMTrusteeVector(t *testing.T) {
	raw := readVector(t, "tpm_evidence.json")
	c, err := Verify(Evidence{TEE: TPM, Raw: raw}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Measurements) != 24 || c.Measurements["pcr17"] != strings.Repeat("f", 64) || c.Measurements["pcr0"] != strings.Repeat("0", 64) {
		t.Fatalf("measurements %v", c.Measurements)
	}
	if len(c.ReportData) != 64 || hex.EncodeToString(c.ReportData[:4]) != "a04182b5" {
		t.Fatalf("report data %x", c.ReportData)
	}
	if c.Platform["ak_endorsed"] != "false" || len(c.Platform["ak_sha256"]) != 64 {
		t.Fatalf("platform %v", c.Platform)
	}
	// The bound nonce verifies; a different one is refused.
	if _, err := Verify(Evidence{TEE: TPM, Raw: raw}, Options{Nonce: c.ReportData}); err != nil {
		t.Fatal(err)
	}
	wrong := append([]byte(nil), c.ReportData...)
	wrong[63] ^= 1
	_, err = Verify(Evidence{TEE: TPM, Raw: raw}, Options{Nonce: wrong})
	mustRefuse(t, err, "does not match the expected nonce")
}

func editTPM(t *testing.T, raw []byte, f func(*TPMEvidence)) []byte {
	t.Helper()
	var doc TPMEvidence
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	f(&doc)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func flipHex(s string, bit int) string {
	b, _ := hex.DecodeString(s)
	b[bit/8] ^= 1 << (bit % 8)
	return hex.EncodeToString(b)
}

func flipB64(s string, bit int) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	b[bit/8] ^= 1 << (bit % 8)
	return base64.StdEncoding.EncodeToString(b)
}

func TestTPMTrusteeVectorTampered(t *testing.T) {
	raw := bytes.TrimSpace(readVector(t, "tpm_evidence.json"))
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	cases := []struct {
		name, reason string
		edit         func(*TPMEvidence)
	}{
		{"pcr one bit", "PCR values do not match", func(d *TPMEvidence) { d.Quote.PCRs[7] = flipHex(d.Quote.PCRs[7], 0) }},
		{"pcr missing", "no value was given", func(d *TPMEvidence) { d.Quote.PCRs = d.Quote.PCRs[:23] }},
		{"message one bit", "signature does not verify", func(d *TPMEvidence) { d.Quote.Message = flipB64(d.Quote.Message, 8*60) }},
		{"signature one bit", "signature does not verify", func(d *TPMEvidence) { d.Quote.Signature = flipB64(d.Quote.Signature, 8*40) }},
		{"other AK", "signature does not verify", func(d *TPMEvidence) { d.AKPublic = base64.StdEncoding.EncodeToString(otherDER) }},
		{"garbage AK", "ak_public", func(d *TPMEvidence) { d.AKPublic = "!!" }},
		{"truncated signature", "does not decode", func(d *TPMEvidence) { d.Quote.Signature = d.Quote.Signature[:8] }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(Evidence{TEE: TPM, Raw: editTPM(t, raw, tc.edit)}, Options{})
			mustRefuse(t, err, tc.reason)
		})
	}
	for _, n := range []int{0, 1, 10, len(raw) / 2, len(raw) - 1} {
		_, err := Verify(Evidence{TEE: TPM, Raw: raw[:n]}, Options{})
		mustRefuse(t, err, "tpm")
	}
}

func FuzzTPM(f *testing.F) {
	f.Add(readVector(f, "tpm_evidence.json"))
	f.Add([]byte(`{"ak_public":"","tpm_quote":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Verify(Evidence{TEE: TPM, Raw: b}, Options{})
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("error does not wrap ErrRefused: %v", err)
		}
	})
}

func BenchmarkVerifyTPM(b *testing.B) {
	raw := readVector(b, "tpm_evidence.json")
	for b.Loop() {
		if _, err := Verify(Evidence{TEE: TPM, Raw: raw}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
