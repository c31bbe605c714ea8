package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// An AK certificate from a TPM manufacturer CA (a test CA here) endorses
// the AK: claims say ak_endorsed; a certificate for another key, an unknown
// CA, a revoked certificate or no configured roots are refused.
func TestTPMAKCertificate(t *testing.T) {
	raw := readVector(t, "tpm_evidence.json")
	var doc TPMEvidence
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString(doc.AKPublic)
	akPub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		d, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		c, _ := x509.ParseCertificate(d)
		return c, k
	}
	issue := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey, pub any, serial int64) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "AK"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
		d, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})
	}
	ca, caKey := newCA("TPM vendor CA")
	other, otherKey := newCA("someone else")
	roots := DefaultRoots()
	roots.TPM = x509.NewCertPool()
	roots.TPM.AddCert(ca)

	c, err := Verify(Evidence{TEE: TPM, Raw: raw, Certs: issue(ca, caKey, akPub, 77)}, Options{Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	if c.Platform["ak_endorsed"] != "true" || c.Platform["ak_issuer"] != "CN=TPM vendor CA" {
		t.Fatalf("platform %v", c.Platform)
	}
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = Verify(Evidence{TEE: TPM, Raw: raw, Certs: issue(ca, caKey, &k2.PublicKey, 78)}, Options{Roots: roots})
	mustRefuse(t, err, "different key than ak_public")
	_, err = Verify(Evidence{TEE: TPM, Raw: raw, Certs: issue(other, otherKey, akPub, 79)}, Options{Roots: roots})
	mustRefuse(t, err, "chain does not verify")
	roots.Revoke("4d") // 77
	_, err = Verify(Evidence{TEE: TPM, Raw: raw, Certs: issue(ca, caKey, akPub, 77)}, Options{Roots: roots})
	mustRefuse(t, err, "revoked")
	_, err = Verify(Evidence{TEE: TPM, Raw: raw, Certs: issue(ca, caKey, akPub, 80)}, Options{})
	mustRefuse(t, err, "no TPM manufacturer roots")
}
