package verifiers

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
)

func vector(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "attest", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The recorded SEV-SNP report reaches the broker through an envelope, with
// its measurement named for the release policy and its report data bound to
// the broker's nonce.
func TestSNPThroughTheBroker(t *testing.T) {
	env, err := attest.MarshalEnvelope(attest.Evidence{TEE: attest.SNP, Raw: vector(t, "snp/test-report.bin"), Certs: vector(t, "snp/test-vcek.der")})
	if err != nil {
		t.Fatal(err)
	}
	v := Verifiers{}
	c, err := v.Verify("envelope", env, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.TEE != "snp" || len(c.Measurements["snp.measurement"]) != 96 {
		t.Fatalf("claims %+v", c)
	}
	wrong := append([]byte(nil), c.ReportData[:32]...)
	wrong[0] ^= 1
	if _, err := v.Verify("envelope", env, wrong, time.Now()); !errors.Is(err, attest.ErrRefused) {
		t.Fatalf("a report bound to another nonce: %v", err)
	}
	// An invalid VCEK is refused.
	bad, _ := attest.MarshalEnvelope(attest.Evidence{TEE: attest.SNP, Raw: vector(t, "snp/test-report.bin"), Certs: vector(t, "snp/test-vcek-invalid-new.der")})
	if _, err := v.Verify("envelope", bad, nil, time.Now()); !errors.Is(err, attest.ErrRefused) {
		t.Fatalf("an invalid VCEK: %v", err)
	}
	// Composite evidence with an unparsable device is refused, never
	// released on the CPU alone.
	if _, err := v.VerifyComposite("envelope", env, `[{"tee":"nvidia","evidence":"AAAA"}]`, nil, time.Now()); !errors.Is(err, attest.ErrRefused) {
		t.Fatalf("composite with a bad GPU part: %v", err)
	}
	if _, err := v.VerifyComposite("envelope", env, `not json`, nil, time.Now()); !errors.Is(err, attest.ErrRefused) {
		t.Fatalf("composite with no device list: %v", err)
	}
}
