package codec

import (
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

const (
	// sampleSize is the size of each of the two samples Auto compresses
	// before deciding to compress a whole chunk.
	sampleSize = 8 << 10
	// minSaving: output must be at least 1/minSaving (3.1%) smaller than
	// the input to be worth storing compressed.
	minSaving = 32
)

// maxEncoder is the Max mode encoder. EncodeAll is safe for concurrent use
// and holds one reusable encoder state per CPU.
var maxEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
		zstd.WithEncoderConcurrency(0),
		zstd.WithEncoderCRC(false),
		zstd.WithSingleSegment(true))
	if err != nil {
		panic(err) // unreachable: the options are valid
	}
	return e
})

// Compress compresses src according to mode and returns the stored form and
// its codec. The output is written to dst's storage if it is large enough.
// For None the output is src itself: chunks that do not shrink by at least
// 3% are stored as they are, as are all chunks with Off.
func Compress(dst, src []byte, mode Mode) (out []byte, id ID) {
	switch {
	case len(src) == 0 || mode == Off:
		return src, None
	case mode == Max:
		out, id = maxEncoder().EncodeAll(src, dst[:0]), Zstd
	case !worthCompressing(src):
		return src, None
	default:
		out, id = s2.Encode(dst, src), S2
	}
	if len(out) > len(src)-len(src)/minSaving {
		return src, None
	}
	return out, id
}

// worthCompressing estimates cheaply whether src would shrink, from two
// samples at a quarter and three quarters of it.
func worthCompressing(src []byte) bool {
	if len(src) < 8*sampleSize {
		return true
	}
	for _, at := range []int{len(src) / 4, len(src) * 3 / 4} {
		s := src[at : at+sampleSize]
		if n := s2.EstimateBlockSize(s); n >= 0 && n <= len(s)-len(s)/minSaving {
			return true
		}
	}
	return false
}

// Bound is the capacity of a dst in which Compress with Auto never
// allocates for a src of n bytes, so a caller reusing its buffer keeps it.
func Bound(n int) int { return s2.MaxEncodedLen(n) }
