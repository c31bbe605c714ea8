package keys

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cloudflare/circl/group"
)

// Derivation labels. They are part of the format: changing one changes every
// derived key (see the known-answer tests).
const (
	labelKEM  = "embassy.v1 root kem"
	labelSign = "embassy.v1 root sign"
)

// kem is the KEM of the root key pair and of Wrap: MLKEM768-X25519 (X-Wing).
var kem = hpke.MLKEM768X25519()

// Root is one epoch of the home's root secret. The secret is a canonical
// ristretto255 scalar, so it can be Shamir-shared over that group; all working
// keys are derived from it with HKDF-SHA256 and distinct labels.
//
// Root redacts its secret in every textual form (String, GoString, fmt verbs,
// JSON, slog), so a root can't be logged by accident.
type Root struct {
	Epoch  uint32
	Secret [32]byte // canonical ristretto255 scalar encoding, never zero
}

// NewRoot returns a root for epoch with a fresh random secret from crypto/rand.
func NewRoot(epoch uint32) (*Root, error) {
	// 64 random bytes hashed to a uniform scalar (RFC 9380 expand_message_xmd
	// and a wide reduction), so the secret has no measurable bias.
	var wide [64]byte
	if _, err := io.ReadFull(rand.Reader, wide[:]); err != nil {
		return nil, fmt.Errorf("new root: %w", err)
	}
	s := group.Ristretto255.HashToScalar(wide[:], []byte("embassy.v1 root secret"))
	if s.IsZero() {
		return nil, errors.New("new root: zero secret")
	}
	return rootFromScalar(epoch, s)
}

// RootFromSecret returns the root for epoch with the given secret, which must
// be the canonical encoding of a non-zero ristretto255 scalar.
func RootFromSecret(epoch uint32, secret []byte) (*Root, error) {
	if _, err := parseSecret(secret); err != nil {
		return nil, err
	}
	r := &Root{Epoch: epoch}
	copy(r.Secret[:], secret)
	return r, nil
}

func rootFromScalar(epoch uint32, s group.Scalar) (*Root, error) {
	b, err := s.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode secret: %w", err)
	}
	return RootFromSecret(epoch, b)
}

// parseSecret decodes a root secret strictly.
func parseSecret(b []byte) (group.Scalar, error) {
	s := group.Ristretto255.NewScalar()
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, errors.New("root secret is not a canonical ristretto255 scalar")
	}
	if s.IsZero() {
		return nil, errors.New("root secret is zero")
	}
	return s, nil
}

// Validate reports whether r's secret is a canonical, non-zero scalar.
// Roots from NewRoot, RootFromSecret and Combine are always valid.
func (r *Root) Validate() error {
	_, err := parseSecret(r.Secret[:])
	return err
}

func (r *Root) derive(label string) []byte {
	k, err := hkdf.Key(sha256.New, r.Secret[:], nil, label, 32)
	if err != nil {
		panic("keys: hkdf: " + err.Error()) // only for out-of-range lengths
	}
	return k
}

// KEM returns the root's MLKEM768-X25519 (X-Wing) private key, derived with
// KEM.DeriveKeyPair(HKDF-SHA256(secret, "embassy.v1 root kem")).
// Data keys are wrapped to its public half with Wrap.
func (r *Root) KEM() (hpke.PrivateKey, error) {
	k, err := kem.DeriveKeyPair(r.derive(labelKEM))
	if err != nil {
		return nil, fmt.Errorf("derive kem key: %w", err)
	}
	return k, nil
}

// PublicKEM returns the serialized public key of KEM (1216 bytes), the input
// of Wrap.
func (r *Root) PublicKEM() ([]byte, error) {
	k, err := r.KEM()
	if err != nil {
		return nil, err
	}
	return k.PublicKey().Bytes(), nil
}

// Signer returns the root's Ed25519 signing key, whose seed is
// HKDF-SHA256(secret, "embassy.v1 root sign").
func (r *Root) Signer() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(r.derive(labelSign))
}

// SigningPublicKey returns the public half of Signer.
func (r *Root) SigningPublicKey() ed25519.PublicKey {
	return r.Signer().Public().(ed25519.PublicKey)
}

// Fingerprint returns a short stable id of this epoch's public keys: the hex
// of the first 8 bytes of SHA-256(PublicKEM || signing public key).
// It is safe to log and to publish.
func (r *Root) Fingerprint() string {
	pk, err := r.PublicKEM()
	if err != nil {
		panic("keys: " + err.Error()) // DeriveKeyPair fails only on bad key sizes
	}
	h := sha256.New()
	h.Write(pk)
	h.Write(r.SigningPublicKey())
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Equal reports whether r and o are the same epoch with the same secret,
// in constant time in the secret.
func (r *Root) Equal(o *Root) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.Epoch == o.Epoch && subtle.ConstantTimeCompare(r.Secret[:], o.Secret[:]) == 1
}

// The methods below use value receivers so that both Root and *Root redact.

const redacted = "REDACTED"

// String returns a description of r without its secret.
func (r Root) String() string {
	return fmt.Sprintf("keys.Root{Epoch: %d, Fingerprint: %s, Secret: %s}", r.Epoch, r.Fingerprint(), redacted)
}

// GoString is like String, for the %#v verb.
func (r Root) GoString() string { return r.String() }

// Format prints String for every verb, so that no verb (%d, %x, %+v...) can
// reach the secret bytes.
func (r Root) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// MarshalJSON encodes r without its secret. The result can't be decoded back
// into a Root: roots are stored only as shares.
func (r Root) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Epoch       uint32 `json:"epoch"`
		Fingerprint string `json:"fingerprint"`
		Secret      string `json:"secret"`
	}{r.Epoch, r.Fingerprint(), redacted})
}

// LogValue implements slog.LogValuer without the secret.
func (r Root) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Uint64("epoch", uint64(r.Epoch)),
		slog.String("fingerprint", r.Fingerprint()),
		slog.String("secret", redacted),
	)
}
