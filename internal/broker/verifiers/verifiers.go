package verifiers

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/broker/tpmquote"
)

// Package verifiers joins every evidence verifier behind the broker's
// Verifier interface.

// Verifiers is the broker's verifier over every evidence type: the
// broker's own TPM quote format ("tpm", embassy.tpm-quote.v1) through
// tpmquote, and SEV-SNP, TDX, NVIDIA GPUs and Azure confidential VMs
// through internal/attest. Evidence that needs certificates or carries GPU
// parts comes as an attest envelope (tee "envelope"). Measurement names
// from internal/attest are prefixed with their TEE ("snp.measurement",
// "tdx.mrtd", "nvidia.fwid"), so reference values name them unambiguously.
type Verifiers struct {
	TPM   tpmquote.Verifier
	Roots *attest.Roots    // nil: attest.DefaultRoots()
	Cache attest.CertCache // offline VCEK/PCK cache; may be nil
}

var _ broker.CompositeVerifier = Verifiers{}

// Verify implements Verifier.
func (v Verifiers) Verify(tee string, evidence, nonce []byte, now time.Time) (broker.Claims, error) {
	if tee == "tpm" || tee == "tpm-sim" { // the broker's own quote format, from a TPM or the simulator
		return v.TPM.Verify(tee, evidence, nonce, now)
	}
	ev := attest.Evidence{TEE: attest.TEE(tee), Raw: evidence}
	if tee == "envelope" {
		var err error
		if ev, err = attest.ParseEnvelope(evidence); err != nil {
			return broker.Claims{}, err
		}
	}
	return v.verify(ev, nonce, now)
}

// VerifyComposite implements CompositeVerifier: additional is a JSON array
// of attest envelopes, one per device (GPU); every part must pass.
func (v Verifiers) VerifyComposite(tee string, primary []byte, additional string, nonce []byte, now time.Time) (broker.Claims, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal([]byte(additional), &raws); err != nil || len(raws) == 0 {
		return broker.Claims{}, fmt.Errorf("%w: device evidence: want a JSON array of attest envelopes", attest.ErrRefused)
	}
	if len(raws) > 16 {
		return broker.Claims{}, fmt.Errorf("%w: %d devices: at most 16", attest.ErrRefused, len(raws))
	}
	cpu, err := v.Verify(tee, primary, nonce, now)
	if err != nil {
		return broker.Claims{}, fmt.Errorf("CPU evidence: %w", err)
	}
	out := broker.Claims{TEE: cpu.TEE, Measurements: cpu.Measurements, ReportData: cpu.ReportData}
	for i, r := range raws {
		ev, err := attest.ParseEnvelope(r)
		if err != nil {
			return broker.Claims{}, fmt.Errorf("device %d: %w", i, err)
		}
		c, err := v.verify(ev, nonce, now)
		if err != nil {
			return broker.Claims{}, fmt.Errorf("device %d: %w", i, err)
		}
		out.Parts = append(out.Parts, c)
	}
	return out, nil
}

func (v Verifiers) verify(ev attest.Evidence, nonce []byte, now time.Time) (broker.Claims, error) {
	roots := v.Roots
	if roots == nil {
		roots = attest.DefaultRoots()
	}
	c, err := attest.Verify(ev, attest.Options{Nonce: nonce, Now: now, Roots: roots, Cache: v.Cache})
	if err != nil {
		if !errors.Is(err, attest.ErrRefused) {
			err = fmt.Errorf("%w: %v", attest.ErrRefused, err)
		}
		return broker.Claims{}, err
	}
	return fromAttest(c), nil
}

func fromAttest(c attest.Claims) broker.Claims {
	out := broker.Claims{TEE: string(c.TEE), ReportData: c.ReportData, Measurements: map[string]string{}}
	for k, v := range c.Measurements {
		out.Measurements[string(c.TEE)+"."+k] = v
	}
	if c.Debug {
		out.Measurements[string(c.TEE)+".debug"] = "true"
	}
	for _, p := range c.Parts {
		out.Parts = append(out.Parts, fromAttest(p))
	}
	return out
}
