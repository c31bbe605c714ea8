package attest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/google/go-tpm/legacy/tpm2"
)

// TPMEvidence is the TPM 2.0 evidence document (Confidential Containers
// Trustee's "tpm" format): the attestation key's public key and one quote.
type TPMEvidence struct {
	AKPublic string   `json:"ak_public"` // base64 DER SubjectPublicKeyInfo
	Quote    TPMQuote `json:"tpm_quote"`
}

// TPMQuote is a TPM2_Quote result: the TPMS_ATTEST message, the
// TPMT_SIGNATURE over it (base64), and the PCR values of the quoted bank
// indexed by PCR number (hex).
type TPMQuote struct {
	Message   string   `json:"message"`   // base64 TPMS_ATTEST
	PCRs      []string `json:"pcrs"`      // hex, index = PCR number
	Signature string   `json:"signature"` // base64 TPMT_SIGNATURE
}

// maxEvidence bounds every decoded document (the largest real one is 36 kB).
const maxEvidence = 1 << 20

func verifyTPM(ev Evidence, opts Options) (Claims, error) {
	if len(ev.Raw) > maxEvidence {
		return Claims{}, Refusef("tpm: evidence of %d bytes exceeds the %d-byte limit", len(ev.Raw), maxEvidence)
	}
	var doc TPMEvidence
	if err := json.Unmarshal(ev.Raw, &doc); err != nil {
		return Claims{}, Refusef("tpm: evidence is not a TPM evidence JSON document: %v", err)
	}
	der, err := base64.StdEncoding.DecodeString(doc.AKPublic)
	if err != nil || len(der) == 0 {
		return Claims{}, Refusef("tpm: ak_public is not base64 DER")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return Claims{}, Refusef("tpm: ak_public does not parse: %v", err)
	}
	msg, err := base64.StdEncoding.DecodeString(doc.Quote.Message)
	if err != nil {
		return Claims{}, Refusef("tpm: quote message is not base64")
	}
	sigRaw, err := base64.StdEncoding.DecodeString(doc.Quote.Signature)
	if err != nil {
		return Claims{}, Refusef("tpm: quote signature is not base64")
	}
	sig, err := tpm2.DecodeSignature(bytes.NewBuffer(sigRaw))
	if err != nil {
		return Claims{}, Refusef("tpm: quote signature does not decode: %v", err)
	}
	pcrs, err := decodePCRs(doc.Quote.PCRs)
	if err != nil {
		return Claims{}, err
	}
	q, err := verifyQuote(msg, sig, pub, pcrs)
	if err != nil {
		return Claims{}, err
	}
	if err := checkNonce("tpm: quote extraData", q.extraData, opts.Nonce); err != nil {
		return Claims{}, err
	}
	c := Claims{
		TEE:          TPM,
		Measurements: q.measurements,
		ReportData:   q.extraData,
		TCB:          map[string]string{"firmware_version": strconv.FormatUint(q.firmware, 16)},
		Platform:     map[string]string{"ak_sha256": fingerprint(der), "ak_endorsed": "false"},
	}
	if len(ev.Certs) > 0 {
		roots := opts.roots()
		if roots.TPM == nil {
			return Claims{}, Refusef("tpm: an AK certificate was given but no TPM manufacturer roots are configured")
		}
		chain, err := parseCerts(ev.Certs)
		if err != nil {
			return Claims{}, Refusef("tpm: AK certificates: %v", err)
		}
		if err := verifyChain(chain, roots.TPM, roots, opts.now(), x509.ExtKeyUsageAny); err != nil {
			return Claims{}, Refusef("tpm: AK certificate: %v", err)
		}
		leafDER, _ := x509.MarshalPKIXPublicKey(chain[0].PublicKey)
		if !bytes.Equal(leafDER, der) {
			return Claims{}, Refusef("tpm: the AK certificate is for a different key than ak_public")
		}
		c.Platform["ak_endorsed"] = "true"
		c.Platform["ak_issuer"] = chain[0].Issuer.String()
	}
	return c, nil
}

// decodePCRs decodes a list of hex PCR values indexed by PCR number.
func decodePCRs(in []string) ([][]byte, error) {
	if len(in) > 24 {
		return nil, Refusef("tpm: %d PCR values given, a bank has at most 24", len(in))
	}
	out := make([][]byte, len(in))
	for i, h := range in {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, Refusef("tpm: PCR %d is not hex", i)
		}
		out[i] = b
	}
	return out, nil
}

type quoteResult struct {
	extraData    []byte
	measurements map[string]string
	firmware     uint64
}

// verifyQuote checks a TPM2_Quote: the signature over msg by pub, the
// TPM_GENERATED magic and quote tag, and that the PCR digest in the quote
// equals the digest of the given PCR values for the quoted selection.
// It returns the quote's extraData (the nonce) and the quoted PCR values.
func verifyQuote(msg []byte, sig *tpm2.Signature, pub crypto.PublicKey, pcrs [][]byte) (quoteResult, error) {
	var hashAlg tpm2.Algorithm
	switch {
	case sig.RSA != nil:
		hashAlg = sig.RSA.HashAlg
	case sig.ECC != nil:
		hashAlg = sig.ECC.HashAlg
	default:
		return quoteResult{}, Refusef("tpm: unsupported quote signature scheme 0x%x", uint16(sig.Alg))
	}
	h, err := hashAlg.Hash()
	if err != nil || (h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512) {
		return quoteResult{}, Refusef("tpm: quote signature hash 0x%x is not SHA-256/384/512", uint16(hashAlg))
	}
	d := h.New()
	d.Write(msg)
	digest := d.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if sig.Alg == tpm2.AlgRSASSA {
			err = rsa.VerifyPKCS1v15(k, h, digest, sig.RSA.Signature)
		} else if sig.Alg == tpm2.AlgRSAPSS {
			err = rsa.VerifyPSS(k, h, digest, sig.RSA.Signature, nil)
		} else {
			err = fmt.Errorf("scheme 0x%x with an RSA key", uint16(sig.Alg))
		}
	case *ecdsa.PublicKey:
		if sig.Alg != tpm2.AlgECDSA || sig.ECC == nil || !ecdsa.Verify(k, digest, sig.ECC.R, sig.ECC.S) {
			err = fmt.Errorf("ECDSA verification failed")
		}
	default:
		err = fmt.Errorf("AK key type %T is not RSA or ECDSA", pub)
	}
	if err != nil {
		return quoteResult{}, Refusef("tpm: quote signature does not verify with the AK: %v", err)
	}
	ad, err := tpm2.DecodeAttestationData(msg)
	if err != nil {
		return quoteResult{}, Refusef("tpm: quote message does not decode: %v", err)
	}
	if ad.Type != tpm2.TagAttestQuote || ad.AttestedQuoteInfo == nil {
		return quoteResult{}, Refusef("tpm: signed message is not a quote (tag 0x%x)", uint16(ad.Type))
	}
	qi := ad.AttestedQuoteInfo
	bank, err := qi.PCRSelection.Hash.Hash()
	if err != nil {
		return quoteResult{}, Refusef("tpm: quoted PCR bank 0x%x is unknown", uint16(qi.PCRSelection.Hash))
	}
	pd := h.New()
	meas := map[string]string{}
	for _, i := range qi.PCRSelection.PCRs {
		if i < 0 || i >= len(pcrs) {
			return quoteResult{}, Refusef("tpm: the quote covers PCR %d but no value was given for it", i)
		}
		if len(pcrs[i]) != bank.Size() {
			return quoteResult{}, Refusef("tpm: PCR %d has %d bytes, the quoted bank has %d", i, len(pcrs[i]), bank.Size())
		}
		pd.Write(pcrs[i])
		meas["pcr"+strconv.Itoa(i)] = hex.EncodeToString(pcrs[i])
	}
	if subtle.ConstantTimeCompare(pd.Sum(nil), qi.PCRDigest) != 1 {
		return quoteResult{}, Refusef("tpm: the PCR values do not match the digest the TPM signed")
	}
	return quoteResult{extraData: append([]byte(nil), ad.ExtraData...), measurements: meas, firmware: ad.FirmwareVersion}, nil
}

func fingerprint(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
