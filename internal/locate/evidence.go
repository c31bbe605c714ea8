package locate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/strict"
	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Formats and signature contexts (docs/formats/location.md).
const (
	FactsFormat  = "embassy-site-facts/1"
	RTTFormat    = "embassy-rtt/1"
	BundleFormat = "embassy-location-evidence/1"

	factsContext = "embassy site facts v1\x00"
	rttContext   = "embassy-rtt/v1\n" // never parses as a checkpoint: line 2 is JSON, not a size
)

// Limits on what a peer may send.
const (
	MaxSigned   = 16 << 10 // a signed facts document or RTT answer
	MaxSamples  = 16       // round trips per measurement
	NonceBytes  = 32
	MaxTextLen  = 128 // place, jurisdiction and names
	MaxBundle   = 4 << 20
	MaxWitness  = 16
	MaxChainLen = 4
)

// Facts is what a site declares about itself, signed by the key of its
// site certificate (the key the home pinned by issuing that certificate).
type Facts struct {
	Format       string    `json:"format"`
	Site         string    `json:"site"` // the name in the site certificate
	Home         string    `json:"home"`
	Declared     *Point    `json:"declared,omitempty"` // nil: the host declared no position
	Place        string    `json:"place,omitempty"`
	Jurisdiction string    `json:"jurisdiction,omitempty"`
	Time         time.Time `json:"time"`
	Nonce        string    `json:"nonce"` // the home's, hex
}

// Signed is a signed document: Body is the exact signed JSON, base64.
type Signed struct {
	Body      string `json:"body"`
	Signature string `json:"signature"`
}

// NewNonce returns a fresh random nonce in hex.
func NewNonce() string {
	b := make([]byte, NonceBytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ValidNonce checks a nonce's form.
func ValidNonce(n string) error {
	if b, err := hex.DecodeString(n); err != nil || len(b) != NonceBytes {
		return fmt.Errorf("nonce %.80q: want %d random bytes in hex", n, NonceBytes)
	}
	return nil
}

func checkText(what, s string) error {
	if len(s) > MaxTextLen {
		return fmt.Errorf("%s of %d bytes, limit %d", what, len(s), MaxTextLen)
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return fmt.Errorf("%s holds control characters", what)
		}
	}
	return nil
}

// Validate checks the facts' fields.
func (f Facts) Validate() error {
	if f.Format != FactsFormat {
		return fmt.Errorf("facts format %.40q, want %s", f.Format, FactsFormat)
	}
	for _, t := range [][2]string{{"site", f.Site}, {"home", f.Home}, {"place", f.Place}, {"jurisdiction", f.Jurisdiction}} {
		if err := checkText(t[0], t[1]); err != nil {
			return err
		}
	}
	if f.Site == "" {
		return errors.New("facts name no site")
	}
	if f.Declared != nil {
		if err := f.Declared.Valid(); err != nil {
			return err
		}
	}
	return ValidNonce(f.Nonce)
}

// SignFacts signs f with the site's key.
func SignFacts(f Facts, key crypto.Signer) (Signed, error) {
	if err := f.Validate(); err != nil {
		return Signed{}, err
	}
	body, err := json.Marshal(f)
	if err != nil {
		return Signed{}, err
	}
	sig, err := sign(key, append([]byte(factsContext), body...))
	if err != nil {
		return Signed{}, err
	}
	return Signed{Body: base64.StdEncoding.EncodeToString(body), Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

func sign(key crypto.Signer, msg []byte) ([]byte, error) {
	switch key.Public().(type) {
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(msg)
		return key.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	return nil, fmt.Errorf("site key of type %T cannot sign facts (want ECDSA or Ed25519)", key.Public())
}

// ParseSigned decodes a signed document as a peer sent it.
func ParseSigned(b []byte) (Signed, error) {
	if len(b) > MaxSigned {
		return Signed{}, fmt.Errorf("signed document of %d bytes, limit %d", len(b), MaxSigned)
	}
	var s Signed
	if err := strict.JSON(b, &s); err != nil {
		return Signed{}, fmt.Errorf("signed document: %w", err)
	}
	if s.Body == "" || s.Signature == "" {
		return Signed{}, errors.New("signed document without body or signature")
	}
	return s, nil
}

func (s Signed) decode() (body, sig []byte, err error) {
	if len(s.Body) > MaxSigned || len(s.Signature) > MaxSigned {
		return nil, nil, errors.New("signed document too large")
	}
	if body, err = base64.StdEncoding.DecodeString(s.Body); err != nil {
		return nil, nil, fmt.Errorf("body: %w", err)
	}
	if sig, err = base64.StdEncoding.DecodeString(s.Signature); err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	return body, sig, nil
}

// VerifyFacts checks s against the site certificate's key and returns the
// facts. The certificate's chain and identity are the caller's to check.
func VerifyFacts(s Signed, cert *x509.Certificate) (Facts, error) {
	body, sig, err := s.decode()
	if err != nil {
		return Facts{}, fmt.Errorf("site facts: %w", err)
	}
	alg := x509.ECDSAWithSHA256
	if _, ok := cert.PublicKey.(ed25519.PublicKey); ok {
		alg = x509.PureEd25519
	}
	if err := cert.CheckSignature(alg, append([]byte(factsContext), body...), sig); err != nil {
		return Facts{}, fmt.Errorf("site facts: signature does not verify with the site certificate's key: %w", err)
	}
	var f Facts
	if err := strict.JSON(body, &f); err != nil {
		return Facts{}, fmt.Errorf("site facts: %w", err)
	}
	if err := f.Validate(); err != nil {
		return Facts{}, fmt.Errorf("site facts: %w", err)
	}
	return f, nil
}

// RTTRequest asks a witness to measure round trips to a site.
type RTTRequest struct {
	Site    string `json:"site"`  // the name the site certificate must carry
	Addr    string `json:"addr"`  // host:port of the site's daemon
	Nonce   string `json:"nonce"` // the home's, hex
	Samples int    `json:"samples"`
}

// Validate checks a request.
func (r RTTRequest) Validate() error {
	if r.Site == "" || r.Addr == "" {
		return errors.New("rtt request names no site or address")
	}
	if err := checkText("site", r.Site); err != nil {
		return err
	}
	if err := checkText("addr", r.Addr); err != nil {
		return err
	}
	if r.Samples < 1 || r.Samples > MaxSamples {
		return fmt.Errorf("%d samples: want 1 to %d", r.Samples, MaxSamples)
	}
	return ValidNonce(r.Nonce)
}

// ParseRTTRequest decodes a request as a client sent it.
func ParseRTTRequest(b []byte) (RTTRequest, error) {
	var r RTTRequest
	if len(b) > MaxSigned {
		return r, fmt.Errorf("rtt request of %d bytes, limit %d", len(b), MaxSigned)
	}
	if err := strict.JSON(b, &r); err != nil {
		return r, fmt.Errorf("rtt request: %w", err)
	}
	return r, r.Validate()
}

// RTT is a witness's signed measurement: the time of each TLS handshake
// with the site, each authenticated by the site certificate's key (TLS 1.3
// CertificateVerify over the witness's fresh ClientHello).
type RTT struct {
	Format   string    `json:"format"`
	Witness  string    `json:"witness"` // the witness key's name
	Site     string    `json:"site"`
	Addr     string    `json:"addr"`
	Nonce    string    `json:"nonce"`
	Samples  []int64   `json:"samples_ns"`
	SiteCert string    `json:"site_cert_sha256"` // of the certificate that answered
	Time     time.Time `json:"time"`
}

// Validate checks an RTT body.
func (r RTT) Validate() error {
	if r.Format != RTTFormat {
		return fmt.Errorf("rtt format %.40q, want %s", r.Format, RTTFormat)
	}
	if err := (RTTRequest{Site: r.Site, Addr: r.Addr, Nonce: r.Nonce, Samples: len(r.Samples)}).Validate(); err != nil {
		return err
	}
	if err := checkText("witness", r.Witness); err != nil {
		return err
	}
	for _, s := range r.Samples {
		if s <= 0 {
			return fmt.Errorf("rtt sample %d ns is not a measurement", s)
		}
	}
	if b, err := hex.DecodeString(r.SiteCert); err != nil || len(b) != sha256.Size {
		return errors.New("rtt: site certificate digest is not SHA-256 hex")
	}
	return nil
}

// Durations returns the samples.
func (r RTT) Durations() []time.Duration {
	out := make([]time.Duration, len(r.Samples))
	for i, s := range r.Samples {
		out[i] = time.Duration(s)
	}
	return out
}

// SignRTT signs r with the witness's plain note signer (note.NewSigner of
// its Ed25519 key; see RTTVerifier).
func SignRTT(r RTT, s note.Signer) (Signed, error) {
	if err := r.Validate(); err != nil {
		return Signed{}, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return Signed{}, err
	}
	sig, err := s.Sign(append([]byte(rttContext), body...))
	if err != nil {
		return Signed{}, err
	}
	return Signed{Body: base64.StdEncoding.EncodeToString(body), Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// VerifyRTT checks s against a witness verifier key (the vkey of the
// home's log policy) and returns the measurement.
func VerifyRTT(s Signed, vkey string) (RTT, error) {
	body, sig, err := s.decode()
	if err != nil {
		return RTT{}, fmt.Errorf("rtt answer: %w", err)
	}
	v, err := RTTVerifier(vkey)
	if err != nil {
		return RTT{}, err
	}
	if !v.Verify(append([]byte(rttContext), body...), sig) {
		return RTT{}, fmt.Errorf("rtt answer: signature does not verify with witness key %s", v.Name())
	}
	var r RTT
	if err := strict.JSON(body, &r); err != nil {
		return RTT{}, fmt.Errorf("rtt answer: %w", err)
	}
	if err := r.Validate(); err != nil {
		return RTT{}, fmt.Errorf("rtt answer: %w", err)
	}
	if r.Witness != v.Name() {
		return RTT{}, fmt.Errorf("rtt answer names witness %q but is signed by %q", r.Witness, v.Name())
	}
	return r, nil
}

// RTTVerifier turns a witness's verifier key into the verifier of its RTT
// answers. A witness signs them with the Ed25519 key of its cosignatures,
// but as plain signatures over the RTT context (a cosignature signs only
// checkpoints): the cosignature/v1 key (type 0x04) of the home's log
// policy is read as the plain Ed25519 key (type 0x01) with the same name.
func RTTVerifier(vkey string) (note.Verifier, error) {
	if v, err := note.NewVerifier(vkey); err == nil {
		return v, nil
	}
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("witness key %.80q: want NAME+HASH+KEY", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return nil, fmt.Errorf("witness key %.80q: RTT answers need an Ed25519 witness key", vkey)
	}
	if _, err := f_note.NewVerifierForCosignatureV1(vkey); err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	plain, err := note.NewEd25519VerifierKey(parts[0], ed25519.PublicKey(raw[1:]))
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(plain)
}

// CertDigest is the hex SHA-256 of a certificate's DER.
func CertDigest(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}
