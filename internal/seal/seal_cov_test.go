package seal

import (
	"bytes"
	"errors"
	"testing"
)

// TestOpenInPlace: the plaintext lands over the box's own ciphertext (no
// new buffer), and every way a host can change a box is refused.
func TestOpenInPlace(t *testing.T) {
	_, k := fixedKey(t)
	ad := []byte("pack 1234/blob 7")
	plain := bytes.Repeat([]byte("register row\n"), 100)
	box := k.Seal(nil, plain, ad)
	if len(box) != len(plain)+Overhead {
		t.Fatalf("box of %d bytes for %d of plaintext", len(box), len(plain))
	}
	out, err := k.OpenInPlace(bytes.Clone(box), ad)
	if err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("open in place: %v", err)
	}
	inplace := bytes.Clone(box)
	out, _ = k.OpenInPlace(inplace, ad)
	if &out[0] != &inplace[NonceSize] {
		t.Fatal("OpenInPlace wrote the plaintext to a new buffer")
	}
	for name, b := range map[string][]byte{
		"flipped bit":  func() []byte { b := bytes.Clone(box); b[NonceSize+3] ^= 1; return b }(),
		"flipped tag":  func() []byte { b := bytes.Clone(box); b[len(b)-1] ^= 0x80; return b }(),
		"other nonce":  func() []byte { b := bytes.Clone(box); b[0] ^= 1; return b }(),
		"truncated":    box[:len(box)-1],
		"short":        box[:Overhead-1],
		"empty":        nil,
		"other object": k.Seal(nil, plain, []byte("pack 1234/blob 8")),
	} {
		if _, err := k.OpenInPlace(bytes.Clone(b), ad); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", name, err)
		}
	}
	other, _ := NewKey(bytes.Repeat([]byte{7}, KeySize))
	if _, err := other.OpenInPlace(bytes.Clone(box), ad); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong key: %v", err)
	}
}

// TestSealAppends: Seal appends to dst, reusing its spare capacity, and
// two seals of one plaintext differ (fresh nonces).
func TestSealAppends(t *testing.T) {
	_, k := fixedKey(t)
	prefix := []byte("header")
	dst := make([]byte, len(prefix), 256)
	copy(dst, prefix)
	box := k.Seal(dst, []byte("x"), nil)
	if !bytes.Equal(box[:len(prefix)], prefix) || &box[0] != &dst[0] {
		t.Fatal("Seal did not append in place")
	}
	grown := k.Seal([]byte("h"), bytes.Repeat([]byte{1}, 300), nil)
	if string(grown[:1]) != "h" || len(grown) != 1+300+Overhead {
		t.Fatal("Seal into a short buffer lost the prefix")
	}
	a, b := k.Seal(nil, []byte("same"), nil), k.Seal(nil, []byte("same"), nil)
	if bytes.Equal(a[:NonceSize], b[:NonceSize]) {
		t.Fatal("two seals share a nonce")
	}
	if out, err := k.Open(nil, box[len(prefix):], nil); err != nil || string(out) != "x" {
		t.Fatalf("open appended box: %q %v", out, err)
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewKey(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte key was accepted", n)
		}
	}
}
