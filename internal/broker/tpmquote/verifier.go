package tpmquote

import (
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/broker"
)

// Verifier is a broker.Verifier for TPM quotes (tee "tpm"; "tpm-sim" for
// the simulator, which a release policy should name only in tests).
type Verifier struct{}

var _ broker.Verifier = Verifier{}

// Verify implements broker.Verifier.
func (Verifier) Verify(tee string, evidence, nonce []byte, _ time.Time) (broker.Claims, error) {
	if tee != "tpm" && tee != "tpm-sim" {
		return broker.Claims{}, fmt.Errorf("this broker verifies TPM evidence only (tee tpm), not %q", tee)
	}
	c, err := Verify(evidence, nonce)
	if err != nil {
		return broker.Claims{}, err
	}
	return broker.Claims{TEE: tee, Measurements: c.Measurements, ReportData: c.ReportData}, nil
}
