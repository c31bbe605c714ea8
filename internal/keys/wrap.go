package keys

import (
	"crypto/hpke"
	"errors"
	"fmt"
)

// ErrUnwrap is returned by Unwrap when a ciphertext does not open: wrong key,
// wrong info, or a tampered or truncated ciphertext. The cases are
// deliberately indistinguishable.
var ErrUnwrap = errors.New("unwrap: decryption failed")

// WrapOverhead is how much longer Wrap's output is than its plaintext: the
// MLKEM768-X25519 encapsulation (1120 bytes) and the AES-GCM tag (16 bytes).
const WrapOverhead = 1120 + 16

// Wrap encrypts plaintext (typically a data key) to publicKEM, a serialized
// MLKEM768-X25519 public key such as Root.PublicKEM, with single-shot HPKE
// (RFC 9180 base mode; MLKEM768-X25519, HKDF-SHA256, AES-256-GCM).
// info binds the context (home id, dataset, version...): Unwrap must be given
// the same info. The result is the encapsulated key followed by the AEAD
// ciphertext; it is len(plaintext)+WrapOverhead bytes long.
func Wrap(publicKEM []byte, info, plaintext []byte) ([]byte, error) {
	pk, err := kem.NewPublicKey(publicKEM)
	if err != nil {
		return nil, fmt.Errorf("wrap: invalid public key: %w", err)
	}
	ct, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), info, plaintext)
	if err != nil {
		return nil, fmt.Errorf("wrap: %w", err)
	}
	return ct, nil
}

// Unwrap decrypts a ciphertext from Wrap with priv (such as Root.KEM) and the
// info given to Wrap. Any authentication failure is ErrUnwrap.
func Unwrap(priv hpke.PrivateKey, info, ciphertext []byte) ([]byte, error) {
	if priv == nil || priv.KEM().ID() != kem.ID() {
		return nil, errors.New("unwrap: private key is not MLKEM768-X25519")
	}
	if len(ciphertext) < WrapOverhead {
		return nil, ErrUnwrap
	}
	pt, err := hpke.Open(priv, hpke.HKDFSHA256(), hpke.AES256GCM(), info, ciphertext)
	if err != nil {
		return nil, ErrUnwrap
	}
	return pt, nil
}
