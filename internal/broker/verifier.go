package broker

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"
)

// Verifier checks one piece of evidence. nonce is the report data the broker
// expects the evidence to carry (see ReportData); a verifier must refuse
// evidence that does not carry it. The returned claims are only what the
// evidence proves; trust in the signer's identity is decided by the broker.
type Verifier interface {
	Verify(tee string, evidence []byte, nonce []byte, now time.Time) (Claims, error)
}

// CompositeVerifier is an optional capability of a Verifier: it verifies
// a CPU TEE's evidence together with its devices' (GPUs') evidence, as
// guest components send it (additional is their JSON string); every part
// must pass. A broker whose verifier lacks it refuses composite evidence
// rather than ignore the devices.
type CompositeVerifier interface {
	VerifyComposite(tee string, primary []byte, additional string, nonce []byte, now time.Time) (Claims, error)
}

// Claims are a verified piece of evidence. Measurements are named as the
// verifier names them ("pcr.sha256.9", "snp.measurement", "tpm.ak"...);
// Parts are the claims of composite evidence (a CPU TEE and its GPUs).
type Claims struct {
	TEE          string
	Measurements map[string]string
	ReportData   []byte
	Parts        []Claims
}

// all returns every measurement of c and its parts, the parts' names
// prefixed with their TEE ("nvidia/hwmodel").
func (c Claims) all() map[string]string {
	m := make(map[string]string, len(c.Measurements))
	for k, v := range c.Measurements {
		m[k] = v
	}
	for _, p := range c.Parts {
		for k, v := range p.all() {
			m[p.TEE+"/"+k] = v
		}
	}
	return m
}

// MeasurementsDigest is a short stable digest of a set of measurements:
// hex SHA-256 over "name=value\n" lines in name order, first 16 bytes.
// It is what the log records, so that entries stay small.
func MeasurementsDigest(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, k := range names {
		h.Write([]byte(k + "=" + m[k] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ReportData is what the workload's evidence must carry: SHA-256 of the
// domain "embassy.broker.v1 report-data", a zero byte, the nonce and the
// workload's public key (X-Wing encoding, or the KBS runtime-data bytes).
func ReportData(nonce, pubkey []byte) []byte {
	h := sha256.New()
	h.Write([]byte("embassy.broker.v1 report-data\x00"))
	h.Write(nonce)
	h.Write(pubkey)
	return h.Sum(nil)
}
