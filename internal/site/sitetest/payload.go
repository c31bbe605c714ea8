package sitetest

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// Gen is a Payload of N pseudo-random bytes derived from Seed. It is not
// seekable and holds no buffer, so it exercises a backend's streaming path.
type Gen struct {
	Seed uint64
	N    int64
}

func (g Gen) Len() int64 { return g.N }

func (g Gen) NewReader() io.Reader {
	return io.LimitReader(&genReader{rng: rand.NewPCG(g.Seed, g.Seed^0x9e3779b97f4a7c15)}, g.N)
}

type genReader struct {
	rng  *rand.PCG
	buf  [8]byte
	left int // unread bytes in buf
}

func (r *genReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.left == 0 {
			v := r.rng.Uint64()
			for i := range r.buf {
				r.buf[i] = byte(v >> (8 * i))
			}
			r.left = len(r.buf)
		}
		c := copy(p[n:], r.buf[len(r.buf)-r.left:])
		r.left -= c
		n += c
	}
	return n, nil
}

// ErrPayload is the error returned by a Failing payload's reader.
var ErrPayload = errors.New("sitetest: payload read failed")

// Failing is a Payload that claims N bytes but whose reader fails with
// ErrPayload after At bytes, as a source file or network stream might.
type Failing struct {
	N, At int64
}

func (f Failing) Len() int64 { return f.N }

func (f Failing) NewReader() io.Reader {
	return io.MultiReader(io.LimitReader(Gen{Seed: 7, N: f.N}.NewReader(), f.At), errReader{})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, ErrPayload }

// Short is a Payload whose reader ends cleanly before Len bytes.
type Short struct {
	N, At int64
}

func (s Short) Len() int64           { return s.N }
func (s Short) NewReader() io.Reader { return io.LimitReader(Gen{Seed: 9, N: s.N}.NewReader(), s.At) }

func (s Short) String() string { return fmt.Sprintf("short payload %d/%d", s.At, s.N) }
