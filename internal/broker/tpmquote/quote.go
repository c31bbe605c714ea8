// Package tpmquote produces and verifies TPM 2.0 quote evidence for the key
// broker: a quote over the SHA-256 PCR bank, signed by the TPM's attestation
// key (AK), whose qualifying data is the report data the broker expects.
// The evidence format is specified in docs/BROKER.md ("TPM evidence").
//
// Verification is pure: it checks the AK's signature over TPMS_ATTEST, the
// TPM_GENERATED magic, the quote's PCR selection and digest against the PCR
// values carried beside it, and the qualifying data. Whether the AK itself
// is trusted is the broker's decision (a pinned workload identity): the
// verifier returns its fingerprint as the claim "tpm.ak".
package tpmquote

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/digital-embassy/embassy/internal/strict"
	"github.com/google/go-tpm/legacy/tpm2"
)

// Format is the evidence format identifier.
const Format = "embassy.tpm-quote.v1"

// MaxEvidence bounds an encoded evidence document.
const MaxEvidence = 64 << 10

// Evidence is one TPM quote with the PCR values it covers.
type Evidence struct {
	Format string            `json:"format"`
	AK     []byte            `json:"ak"`    // PKIX DER of the attestation key's public key
	Quote  []byte            `json:"quote"` // TPMS_ATTEST as signed by the TPM
	Sig    []byte            `json:"sig"`   // TPMT_SIGNATURE
	PCRs   map[string][]byte `json:"pcrs"`  // SHA-256 bank: decimal index -> value
}

// Claims are what a verified quote says.
type Claims struct {
	AK           string            // hex SHA-256 of the AK's PKIX DER: the workload's identity
	Measurements map[string]string // "pcr.sha256.N" -> hex value, and "tpm.ak"
	ReportData   []byte            // the quote's qualifying data
}

// Fingerprint is the identity of an attestation key: hex SHA-256 of its PKIX DER.
func Fingerprint(akDER []byte) string {
	s := sha256.Sum256(akDER)
	return hex.EncodeToString(s[:])
}

// Parse decodes evidence strictly (unknown fields and trailing data are errors).
func Parse(b []byte) (*Evidence, error) {
	if len(b) > MaxEvidence {
		return nil, fmt.Errorf("tpm evidence is %d bytes: at most %d", len(b), MaxEvidence)
	}
	var ev Evidence
	if err := strict.JSON(b, &ev); err != nil {
		return nil, fmt.Errorf("tpm evidence: %w", err)
	}
	if ev.Format != Format {
		return nil, fmt.Errorf("tpm evidence format %q: want %q", ev.Format, Format)
	}
	if len(ev.PCRs) == 0 || len(ev.PCRs) > 24 {
		return nil, fmt.Errorf("tpm evidence has %d PCRs: want 1 to 24", len(ev.PCRs))
	}
	for k, v := range ev.PCRs {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || n > 23 || strconv.Itoa(n) != k {
			return nil, fmt.Errorf("tpm evidence: PCR index %q: want 0 to 23", k)
		}
		if len(v) != sha256.Size {
			return nil, fmt.Errorf("tpm evidence: PCR %s is %d bytes: want %d", k, len(v), sha256.Size)
		}
	}
	return &ev, nil
}

// Verify checks evidence and that its qualifying data equals reportData.
func Verify(b []byte, reportData []byte) (*Claims, error) {
	ev, err := Parse(b)
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(ev.AK)
	if err != nil {
		return nil, fmt.Errorf("tpm evidence: attestation key: %w", err)
	}
	sig, err := tpm2.DecodeSignature(bytes.NewBuffer(ev.Sig))
	if err != nil {
		return nil, fmt.Errorf("tpm evidence: signature: %v", err)
	}
	h, err := sigHash(sig)
	if err != nil {
		return nil, err
	}
	d := h.New()
	d.Write(ev.Quote)
	digest := d.Sum(nil)
	switch pk := pub.(type) {
	case *ecdsa.PublicKey:
		if sig.Alg != tpm2.AlgECDSA || sig.ECC == nil || !ecdsa.Verify(pk, digest, sig.ECC.R, sig.ECC.S) {
			return nil, errors.New("tpm evidence: quote signature does not verify under the attestation key")
		}
	case *rsa.PublicKey:
		if sig.Alg != tpm2.AlgRSASSA || sig.RSA == nil || rsa.VerifyPKCS1v15(pk, h, digest, sig.RSA.Signature) != nil {
			return nil, errors.New("tpm evidence: quote signature does not verify under the attestation key")
		}
	default:
		return nil, fmt.Errorf("tpm evidence: attestation key type %T is not supported (ECDSA or RSA)", pub)
	}
	ad, err := tpm2.DecodeAttestationData(ev.Quote)
	if err != nil {
		return nil, fmt.Errorf("tpm evidence: quote: %v", err)
	}
	if ad.Type != tpm2.TagAttestQuote || ad.AttestedQuoteInfo == nil {
		return nil, errors.New("tpm evidence: the signed structure is not a quote")
	}
	qi := ad.AttestedQuoteInfo
	if qi.PCRSelection.Hash != tpm2.AlgSHA256 {
		return nil, fmt.Errorf("tpm evidence: quote is over PCR bank %v: want SHA-256", qi.PCRSelection.Hash)
	}
	sel := append([]int(nil), qi.PCRSelection.PCRs...)
	sort.Ints(sel)
	if len(sel) != len(ev.PCRs) {
		return nil, fmt.Errorf("tpm evidence: quote selects %d PCRs but %d values are given", len(sel), len(ev.PCRs))
	}
	pd := h.New()
	claims := &Claims{AK: Fingerprint(ev.AK), Measurements: map[string]string{}}
	for i, n := range sel {
		if i > 0 && sel[i-1] == n {
			return nil, errors.New("tpm evidence: quote selects a PCR twice")
		}
		v, ok := ev.PCRs[strconv.Itoa(n)]
		if !ok {
			return nil, fmt.Errorf("tpm evidence: quote selects PCR %d but its value is missing", n)
		}
		pd.Write(v)
		claims.Measurements["pcr.sha256."+strconv.Itoa(n)] = hex.EncodeToString(v)
	}
	if subtle.ConstantTimeCompare(pd.Sum(nil), qi.PCRDigest) != 1 {
		return nil, errors.New("tpm evidence: PCR values do not match the quoted digest")
	}
	if subtle.ConstantTimeCompare(ad.ExtraData, reportData) != 1 {
		return nil, errors.New("tpm evidence: quote's qualifying data does not match the expected report data (nonce and key binding)")
	}
	claims.ReportData = append([]byte(nil), ad.ExtraData...)
	claims.Measurements["tpm.ak"] = claims.AK
	return claims, nil
}

func sigHash(sig *tpm2.Signature) (crypto.Hash, error) {
	var alg tpm2.Algorithm
	switch {
	case sig.ECC != nil:
		alg = sig.ECC.HashAlg
	case sig.RSA != nil:
		alg = sig.RSA.HashAlg
	default:
		return 0, errors.New("tpm evidence: signature has no hash algorithm")
	}
	switch alg {
	case tpm2.AlgSHA256:
		return crypto.SHA256, nil
	case tpm2.AlgSHA384:
		return crypto.SHA384, nil
	case tpm2.AlgSHA512:
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("tpm evidence: signature hash algorithm %v is not accepted (SHA-256/384/512)", alg)
}
