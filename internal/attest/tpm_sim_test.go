//go:build cgo

package attest

import (
	"crypto/sha256"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
)

// TestTPMSimulatorQuote produces real quotes with the TPM 2.0 reference
// simulator: a quote verifies with its nonce and PCR values; a PCR extended
// after the reference was taken changes the measurement and fails Compare.
func TestTPMSimulatorQuote(t *testing.T) {
	sim, err := simulator.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	nonce := sha256.Sum256([]byte("broker nonce 1"))
	raw, err := QuoteTPM(sim, nonce[:])
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(Evidence{TEE: TPM, Raw: raw}, Options{Nonce: nonce[:]})
	if err != nil {
		t.Fatal(err)
	}
	ref := map[string]string{"pcr7": c.Measurements["pcr7"], "pcr0": c.Measurements["pcr0"]}
	if err := Compare(c, ref); err != nil {
		t.Fatal(err)
	}
	// A replayed quote does not bind a fresh nonce.
	fresh := sha256.Sum256([]byte("broker nonce 2"))
	_, err = Verify(Evidence{TEE: TPM, Raw: raw}, Options{Nonce: fresh[:]})
	mustRefuse(t, err, "does not match the expected nonce")

	// New firmware: PCR 7 changes, the signature is fine, the reference is not.
	d := sha256.Sum256([]byte("unapproved bootloader"))
	if err := tpm2.PCRExtend(sim, tpmutil.Handle(7), tpm2.AlgSHA256, d[:], ""); err != nil {
		t.Fatal(err)
	}
	raw2, err := QuoteTPM(sim, fresh[:])
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Verify(Evidence{TEE: TPM, Raw: raw2}, Options{Nonce: fresh[:]})
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, Compare(c2, ref), "pcr7 is ")
	if c2.Measurements["pcr0"] != ref["pcr0"] {
		t.Fatal("pcr0 changed")
	}
	// The PCR list claiming the old value does not match the signed digest.
	_, err = Verify(Evidence{TEE: TPM, Raw: editTPM(t, raw2, func(e *TPMEvidence) { e.Quote.PCRs[7] = ref["pcr7"] })}, Options{Nonce: fresh[:]})
	mustRefuse(t, err, "PCR values do not match")
}

func BenchmarkVerifyTPMSimulatorECC(b *testing.B) {
	sim, err := simulator.Get()
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	raw, err := QuoteTPM(sim, []byte("nonce"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Verify(Evidence{TEE: TPM, Raw: raw}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
