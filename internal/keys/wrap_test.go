package keys

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"testing"
)

func TestWrapRoundTrip(t *testing.T) {
	r := mustRoot(t, 1)
	pub, err := r.PublicKEM()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := r.KEM()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name            string
		info, plaintext []byte
	}{
		{"data key", []byte("home=ee dataset=population v=3"), bytes.Repeat([]byte{7}, 32)},
		{"empty info", nil, []byte("k")},
		{"empty plaintext", []byte("x"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := Wrap(pub, tc.info, tc.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != len(tc.plaintext)+WrapOverhead {
				t.Errorf("got %d bytes, want %d", len(ct), len(tc.plaintext)+WrapOverhead)
			}
			ct2, err := Wrap(pub, tc.info, tc.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(ct, ct2) {
				t.Error("Wrap is deterministic")
			}
			got, err := Unwrap(priv, tc.info, ct)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Errorf("got %x, want %x", got, tc.plaintext)
			}
		})
	}
}

func TestUnwrapFailures(t *testing.T) {
	r := mustRoot(t, 1)
	pub, _ := r.PublicKEM()
	priv, _ := r.KEM()
	other, _ := mustRoot(t, 1).KEM()
	info, pt := []byte("home=ee dataset=a v=1"), []byte("0123456789abcdef0123456789abcdef")
	ct, err := Wrap(pub, info, pt)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 1
		return c
	}
	for _, tc := range []struct {
		name string
		priv hpke.PrivateKey
		info []byte
		ct   []byte
	}{
		{"wrong info", priv, []byte("home=ee dataset=a v=2"), ct},
		{"no info", priv, nil, ct},
		{"wrong key", other, info, ct},
		{"tampered encapsulation (ML-KEM)", priv, info, flip(0)},
		{"tampered encapsulation (X25519)", priv, info, flip(1100)},
		{"tampered ciphertext", priv, info, flip(WrapOverhead)},
		{"tampered tag", priv, info, flip(len(ct) - 1)},
		{"truncated", priv, info, ct[:len(ct)-1]},
		{"too short", priv, info, ct[:WrapOverhead-1]},
		{"extended", priv, info, append(bytes.Clone(ct), 0)},
		{"empty", priv, info, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unwrap(tc.priv, tc.info, tc.ct)
			if !errors.Is(err, ErrUnwrap) {
				t.Fatalf("got %x, %v; want ErrUnwrap", got, err)
			}
		})
	}
}

func TestWrapBadKeys(t *testing.T) {
	if _, err := Wrap([]byte("short"), nil, []byte("x")); err == nil {
		t.Error("Wrap accepted a malformed public key")
	}
	x, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Wrap(x.PublicKey().Bytes(), nil, []byte("x")); err == nil {
		t.Error("Wrap accepted a classic X25519 public key")
	}
	if _, err := Unwrap(x, nil, make([]byte, 2000)); err == nil || errors.Is(err, ErrUnwrap) {
		t.Errorf("Unwrap with a DHKEM key: got %v, want a key type error", err)
	}
	if _, err := Unwrap(nil, nil, make([]byte, 2000)); err == nil {
		t.Error("Unwrap accepted a nil key")
	}
}

func BenchmarkWrap(b *testing.B) {
	r := mustRoot(b, 1)
	pub, _ := r.PublicKEM()
	info, key := []byte("home=ee dataset=a v=1"), make([]byte, 32)
	for b.Loop() {
		if _, err := Wrap(pub, info, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrap(b *testing.B) {
	r := mustRoot(b, 1)
	pub, _ := r.PublicKEM()
	priv, _ := r.KEM()
	info, key := []byte("home=ee dataset=a v=1"), make([]byte, 32)
	ct, err := Wrap(pub, info, key)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Unwrap(priv, info, ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRootKEM(b *testing.B) {
	r := mustRoot(b, 1)
	for b.Loop() {
		if _, err := r.KEM(); err != nil {
			b.Fatal(err)
		}
	}
}
