package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func TestSNPRecordedVCEK(t *testing.T) {
	rep, vcek := readVector(t, "snp/test-report.bin"), readVector(t, "snp/test-vcek.der")
	c, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: vcek}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Platform["signer"] != "VCEK" || len(c.Measurements["measurement"]) != 96 || len(c.ReportData) != 64 {
		t.Fatalf("claims %+v", c)
	}
	if _, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: vcek}, Options{Nonce: c.ReportData[:32]}); err != nil {
		t.Fatal(err)
	}
	wrong := bytes.Clone(c.ReportData)
	wrong[0] ^= 1
	_, err = Verify(Evidence{TEE: SNP, Raw: rep, Certs: vcek}, Options{Nonce: wrong})
	mustRefuse(t, err, "does not match the expected nonce")
}

func TestSNPInvalidVCEKsRefused(t *testing.T) {
	rep := readVector(t, "snp/test-report.bin")
	for _, name := range []string{"snp/test-vcek-invalid-legacy.der", "snp/test-vcek-invalid-new.der"} {
		t.Run(name, func(t *testing.T) {
			// Well-formed VCEKs (old and new hwID encodings) not signed by AMD's ASK.
			_, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: readVector(t, name)}, Options{})
			mustRefuse(t, err, "signed by unknown authority")
		})
	}
}

func TestSNPVLEK(t *testing.T) {
	rep, vlek := readVector(t, "snp/test-vlek-report.bin"), readVector(t, "snp/test-vlek.der")
	cert, err := x509.ParseCertificate(vlek)
	if err != nil {
		t.Fatal(err)
	}
	// VLEKs live about a year: valid when recorded, refused once expired.
	then := cert.NotBefore.Add(24 * time.Hour)
	c, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: vlek}, Options{Now: then})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(Evidence{TEE: SNP, Raw: rep, Certs: vlek}, Options{Now: cert.NotAfter.Add(time.Hour)})
	mustRefuse(t, err, "expired")
	if c.Platform["signer"] != "VLEK" {
		t.Fatalf("signer %q", c.Platform["signer"])
	}
	// The VLEK does not sign the VCEK report, nor the VCEK the VLEK report.
	_, err = Verify(Evidence{TEE: SNP, Raw: readVector(t, "snp/test-report.bin"), Certs: vlek}, Options{Now: then})
	mustRefuse(t, err, "snp")
	_, err = Verify(Evidence{TEE: SNP, Raw: rep}, Options{Now: then})
	mustRefuse(t, err, "VLEK")
}

func TestSNPOfflineCache(t *testing.T) {
	rep, vcek := readVector(t, "snp/test-report.bin"), readVector(t, "snp/test-vcek.der")
	_, err := Verify(Evidence{TEE: SNP, Raw: rep}, Options{})
	mustRefuse(t, err, "no offline VCEK cache")
	_, err = Verify(Evidence{TEE: SNP, Raw: rep}, Options{Cache: MapCache{}})
	mustRefuse(t, err, "not in the offline cache")
	key, err := VCEKCacheKey(rep, "Milan")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cache key %s", key)
	if _, err := Verify(Evidence{TEE: SNP, Raw: rep}, Options{Cache: MapCache{key: vcek}}); err != nil {
		t.Fatal(err)
	}
	// A poisoned cache entry is still checked against AMD's roots.
	_, err = Verify(Evidence{TEE: SNP, Raw: rep}, Options{Cache: MapCache{key: readVector(t, "snp/test-vcek-invalid-new.der")}})
	mustRefuse(t, err, "does not verify")
}

func TestSNPRevokedVCEK(t *testing.T) {
	rep, vcek := readVector(t, "snp/test-report.bin"), readVector(t, "snp/test-vcek.der")
	r := DefaultRoots()
	sum := sha256.Sum256(vcek)
	r.Revoke("sha256:" + hex.EncodeToString(sum[:]))
	_, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: vcek}, Options{Roots: r})
	mustRefuse(t, err, "is revoked")
	// Revoking the Milan ASK refuses every report under it.
	roots, _ := amdDefaultRoots()
	r = DefaultRoots()
	r.Revoke(roots["Milan"][0].ProductCerts.Ask.SerialNumber.Text(16))
	_, err = Verify(Evidence{TEE: SNP, Raw: rep, Certs: vcek}, Options{Roots: r})
	mustRefuse(t, err, "is revoked")
	// Revoking Genoa's does not.
	r = DefaultRoots()
	r.Revoke(roots["Genoa"][0].ProductCerts.Ask.SerialNumber.Text(16))
	if _, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: vcek}, Options{Roots: r}); err != nil {
		t.Fatal(err)
	}
}

func TestSNPTampered(t *testing.T) {
	rep, vcek := readVector(t, "snp/test-report.bin"), readVector(t, "snp/test-vcek.der")
	for _, off := range []int{0x50 /* report data */, 0x90 /* measurement */, 0x2a0 /* signature */} {
		bad := bytes.Clone(rep)
		bad[off] ^= 1
		_, err := Verify(Evidence{TEE: SNP, Raw: bad, Certs: vcek}, Options{})
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("bit flip at 0x%x: %v", off, err)
		}
	}
	for _, n := range []int{0, 100, len(rep) - 1} {
		_, err := Verify(Evidence{TEE: SNP, Raw: rep[:n], Certs: vcek}, Options{})
		mustRefuse(t, err, "report has")
	}
	_, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: []byte("garbage")}, Options{})
	mustRefuse(t, err, "certificates")
}

func FuzzSNP(f *testing.F) {
	f.Add(readVector(f, "snp/test-report.bin"), readVector(f, "snp/test-vcek.der"))
	f.Add(readVector(f, "snp/test-vlek-report.bin"), readVector(f, "snp/test-vlek.der"))
	f.Fuzz(func(t *testing.T, rep, certs []byte) {
		_, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: certs}, Options{})
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("error does not wrap ErrRefused: %v", err)
		}
	})
}

func BenchmarkVerifySNP(b *testing.B) {
	rep, vcek := readVector(b, "snp/test-report.bin"), readVector(b, "snp/test-vcek.der")
	for b.Loop() {
		if _, err := Verify(Evidence{TEE: SNP, Raw: rep, Certs: vcek}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
