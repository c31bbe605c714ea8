package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"
)

func fixedKey(t testing.TB) ([]byte, *Key) {
	t.Helper()
	raw := make([]byte, KeySize)
	for i := range raw {
		raw[i] = byte(i)
	}
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, k
}

// TestOpenKnownAnswer: a box built by the standard library alone, as the
// format says (nonce || AES-256-GCM ciphertext || tag, AD bound), opens.
func TestOpenKnownAnswer(t *testing.T) {
	raw, k := fixedKey(t)
	b, _ := aes.NewCipher(raw)
	g, _ := cipher.NewGCM(b)
	nonce := bytes.Repeat([]byte{9}, NonceSize)
	box := g.Seal(append([]byte{}, nonce...), nonce, []byte("population register"), []byte("ad:pack"))
	got, err := k.Open([]byte("prefix:"), box, []byte("ad:pack"))
	if err != nil || string(got) != "prefix:population register" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestSealOpen(t *testing.T) {
	_, k := fixedKey(t)
	pt := bytes.Repeat([]byte("x"), 1000)
	box := k.Seal([]byte("hdr"), pt, []byte("ad"))
	if !bytes.HasPrefix(box, []byte("hdr")) || len(box) != 3+len(pt)+Overhead {
		t.Fatalf("Seal appended %d bytes to the prefix, want %d", len(box)-3, len(pt)+Overhead)
	}
	box = box[3:]
	if got, err := k.Open(nil, box, []byte("ad")); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: %v", err)
	}
	if again := k.Seal(nil, pt, []byte("ad")); bytes.Equal(again[:NonceSize], box[:NonceSize]) {
		t.Fatal("two seals used the same nonce")
	}
	// Every single-byte change, another AD, truncation and another key fail.
	for i := range box {
		bad := bytes.Clone(box)
		bad[i] ^= 0x80
		if _, err := k.Open(nil, bad, []byte("ad")); !errors.Is(err, ErrAuth) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if _, err := k.Open(nil, box, []byte("other")); !errors.Is(err, ErrAuth) {
		t.Fatalf("other AD: %v", err)
	}
	for _, n := range []int{0, 1, Overhead - 1, len(box) - 1} {
		if _, err := k.Open(nil, box[:n], []byte("ad")); !errors.Is(err, ErrAuth) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	other, _ := NewKey(bytes.Repeat([]byte{1}, KeySize))
	if _, err := other.Open(nil, box, []byte("ad")); !errors.Is(err, ErrAuth) {
		t.Fatalf("other key: %v", err)
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewKey(make([]byte, n)); err == nil {
			t.Fatalf("a %d-byte key was accepted", n)
		}
	}
}

// FuzzOpen: boxes come back from hosts; any bytes are refused with ErrAuth
// or, if they open, were sealed by us (only the seed's plaintext).
func FuzzOpen(f *testing.F) {
	_, k := fixedKey(f)
	f.Add(k.Seal(nil, []byte("secret"), []byte("ad")))
	f.Add([]byte{})
	f.Add(make([]byte, Overhead))
	f.Fuzz(func(t *testing.T, box []byte) {
		got, err := k.Open(nil, box, []byte("ad"))
		if err != nil {
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("error %v is not ErrAuth", err)
			}
			return
		}
		if string(got) != "secret" {
			t.Fatalf("a forged box opened to %q", got)
		}
	})
}
