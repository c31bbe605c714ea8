package vault

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
)

// LocationCheck is a location evidence file checked offline
// ('embassy site locate --verify').
type LocationCheck struct {
	File     string
	Verified *evidence.Verified // the home's signature
	Bundle   *locate.Bundle
	Result   string // the rechecked verdict, or "no-position" when there is none
}

// VerifyLocationFile checks the location evidence in file (VerifyLocation)
// against the home CA certificate in caFile, or, if caFile is "", the one
// the bundle carries. A file or CA that cannot be read is a usage error;
// evidence that does not verify is damage (code 3 with a hint).
func VerifyLocationFile(file, caFile string) (*LocationCheck, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	var ca *x509.Certificate
	if caFile != "" {
		if ca, err = pki.LoadCert(caFile); err != nil {
			return nil, hint.WithCode(err, hint.CodeUsage)
		}
	}
	ver, b, c, err := VerifyLocation(raw, ca)
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%s: %w", file, err), "the evidence was altered or is not location evidence of this home"), hint.CodeDamaged)
	}
	res := &LocationCheck{File: file, Verified: ver, Bundle: b, Result: "no-position"}
	if c.Verdict != nil {
		res.Result = c.Verdict.Result
	}
	return res, nil
}
