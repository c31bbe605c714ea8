// Package seal is the authenticated encryption used for every vault object:
// AES-256-GCM with a random 96-bit nonce, bound by additional data to the
// object's identity so that a host cannot swap one ciphertext for another.
//
// The package is pure: no I/O, no context.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Overhead is the number of bytes Seal adds to a plaintext.
const Overhead = NonceSize + TagSize

const (
	NonceSize = 12
	TagSize   = 16
	KeySize   = 32
)

// ErrAuth is returned when a ciphertext does not authenticate: it was
// corrupted, truncated, swapped for another, or sealed under another key.
var ErrAuth = errors.New("ciphertext does not authenticate (corrupt, swapped, or wrong key)")

// Key is an AES-256-GCM key with its cipher precomputed.
type Key struct {
	aead cipher.AEAD
}

// NewKey returns a Key for the 32-byte secret k.
func NewKey(k []byte) (*Key, error) {
	if len(k) != KeySize {
		return nil, fmt.Errorf("seal key must be %d bytes, got %d", KeySize, len(k))
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &Key{aead: a}, nil
}

// Seal appends nonce || ciphertext || tag of plaintext to dst.
func (k *Key) Seal(dst, plaintext, ad []byte) []byte {
	n := len(dst)
	dst = grow(dst, NonceSize+len(plaintext)+TagSize)
	nonce := dst[n : n+NonceSize]
	if _, err := rand.Read(nonce); err != nil {
		panic("seal: crypto/rand failed: " + err.Error())
	}
	return k.aead.Seal(dst[:n+NonceSize], nonce, plaintext, ad)
}

// Open authenticates and decrypts a sealed box, appending the plaintext to dst.
func (k *Key) Open(dst, box, ad []byte) ([]byte, error) {
	if len(box) < Overhead {
		return nil, fmt.Errorf("sealed box of %d bytes is shorter than %d: %w", len(box), Overhead, ErrAuth)
	}
	out, err := k.aead.Open(dst, box[:NonceSize], box[NonceSize:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, len(b)+n+len(b)/4)
	copy(nb, b)
	return nb
}

// OpenInPlace is Open writing the plaintext over the box's own ciphertext.
func (k *Key) OpenInPlace(box, ad []byte) ([]byte, error) {
	if len(box) < Overhead {
		return nil, fmt.Errorf("sealed box of %d bytes is shorter than %d: %w", len(box), Overhead, ErrAuth)
	}
	return k.Open(box[NonceSize:NonceSize], box, ad)
}
