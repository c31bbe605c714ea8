package chunker

import (
	"io"
	"testing"

	"github.com/zeebo/blake3"
)

// randomData returns n deterministic pseudo-random bytes named by seed: the
// BLAKE3 output stream of seed.
func randomData(n int, seed string) []byte {
	h := blake3.New()
	h.WriteString(seed)
	b := make([]byte, n)
	if _, err := io.ReadFull(h.Digest(), b); err != nil {
		panic(err)
	}
	return b
}

func testKey(i byte) (k [32]byte) {
	for j := range k {
		k[j] = i + byte(j)
	}
	return k
}

// lengths chunks r and returns the chunk lengths.
func lengths(t testing.TB, r io.Reader, tab *Table, p Params) []int {
	t.Helper()
	c := New(r, tab, p, nil)
	var ns []int
	for {
		b, err := c.Next()
		if err == io.EOF {
			return ns
		}
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, len(b))
	}
}
