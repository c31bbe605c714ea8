package broker

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/strict"
)

// RefsFormat identifies a reference-value file.
const RefsFormat = "embassy.refs.v1"

// maxRefsFile bounds a reference-value file.
const maxRefsFile = 256 << 10

var (
	nameRE        = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })
	measureNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]{0,127}$`) })
	measureValRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{2,256}$`) })
)

// RefValues is a set of reference measurements published by the sending
// state: the measurements an approved firmware, driver or workload image
// produces. Evidence matches it when every measurement it names is present
// in the evidence with exactly this value.
type RefValues struct {
	Format       string            `json:"format"`
	Name         string            `json:"name"`
	TEE          string            `json:"tee"`
	Issued       time.Time         `json:"issued"`
	Description  string            `json:"description,omitempty"`
	Measurements map[string]string `json:"measurements"`
}

// SignedRefs is a reference-value file: the values, the signer's Ed25519
// public key (hex) and its signature over the values' canonical JSON.
type SignedRefs struct {
	RefValues
	Signer    string `json:"signer"`
	Signature []byte `json:"signature"`
}

// Validate checks the values' fields.
func (r *RefValues) Validate() error {
	if r.Format != RefsFormat {
		return fmt.Errorf("reference values format %q: want %q", r.Format, RefsFormat)
	}
	if !nameRE().MatchString(r.Name) {
		return fmt.Errorf("reference values name %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", r.Name)
	}
	if !nameRE().MatchString(r.TEE) {
		return fmt.Errorf("reference values %s: tee %q is not a TEE name (tpm, snp, tdx, nvidia...)", r.Name, r.TEE)
	}
	if r.Issued.IsZero() {
		return fmt.Errorf("reference values %s: issued time is missing", r.Name)
	}
	if !printable(r.Description) || len(r.Description) > 1024 {
		return fmt.Errorf("reference values %s: description must be at most 1024 printable ASCII characters", r.Name)
	}
	if len(r.Measurements) == 0 || len(r.Measurements) > 256 {
		return fmt.Errorf("reference values %s: %d measurements: want 1 to 256", r.Name, len(r.Measurements))
	}
	for k, v := range r.Measurements {
		if !measureNameRE().MatchString(k) {
			return fmt.Errorf("reference values %s: measurement name %q: use lowercase letters, digits, '.', '_', '/' or '-'", r.Name, k)
		}
		if !measureValRE().MatchString(v) {
			return fmt.Errorf("reference values %s: measurement %s: value must be lowercase hex", r.Name, k)
		}
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Canonical returns the RFC 8785 (JCS) encoding of the values: object
// members sorted by name, no insignificant white space, times in RFC 3339
// UTC. Validate restricts every string to characters JCS and encoding/json
// encode alike, so this is exact.
func (r *RefValues) Canonical() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	m := map[string]any{
		"format": r.Format, "name": r.Name, "tee": r.TEE,
		"issued": r.Issued.UTC().Format(time.RFC3339Nano), "measurements": r.Measurements,
	}
	if r.Description != "" {
		m["description"] = r.Description
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SignRefs signs r with key.
func SignRefs(r RefValues, key ed25519.PrivateKey) (*SignedRefs, error) {
	if r.Format == "" {
		r.Format = RefsFormat
	}
	if r.Issued.IsZero() {
		r.Issued = time.Now().UTC()
	}
	r.Issued = r.Issued.UTC()
	c, err := r.Canonical()
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	return &SignedRefs{RefValues: r, Signer: hex.EncodeToString(pub), Signature: ed25519.Sign(key, c)}, nil
}

// ParseRefs decodes a reference-value file strictly and verifies its
// signature by one of trusted (Ed25519 public keys).
func ParseRefs(b []byte, trusted []ed25519.PublicKey) (*SignedRefs, error) {
	if len(b) > maxRefsFile {
		return nil, fmt.Errorf("reference-value file is %d bytes: at most %d", len(b), maxRefsFile)
	}
	var s SignedRefs
	if err := strict.JSON(b, &s); err != nil {
		return nil, fmt.Errorf("reference-value file: %w", err)
	}
	c, err := s.Canonical()
	if err != nil {
		return nil, err
	}
	pub, err := hex.DecodeString(s.Signer)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("reference values %s: signer is not a hex Ed25519 public key", s.Name)
	}
	ok := false
	for _, t := range trusted {
		if bytes.Equal(t, pub) {
			ok = true
		}
	}
	if !ok {
		return nil, fmt.Errorf("reference values %s: signer %s is not a trusted publisher (a root signing key of the home, any epoch)", s.Name, s.Signer[:16])
	}
	if !ed25519.Verify(pub, c, s.Signature) {
		return nil, fmt.Errorf("reference values %s: signature does not verify", s.Name)
	}
	return &s, nil
}

// Match reports whether every measurement of r is in m with the same value;
// if not, it names the first that differs (in name order).
func (r *RefValues) Match(m map[string]string) (ok bool, diff string) {
	for _, k := range sortedKeys(r.Measurements) {
		want := r.Measurements[k]
		got, present := m[k]
		if !present {
			return false, fmt.Sprintf("%s is missing from the evidence (%s wants %s)", k, r.Name, short(want))
		}
		if got != want {
			return false, fmt.Sprintf("%s is %s, %s wants %s", k, short(got), r.Name, short(want))
		}
	}
	return true, ""
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
