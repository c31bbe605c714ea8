package codec

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// decoder decodes zstd frames. DecodeAll is safe for concurrent use and
// holds one reusable decoder state per CPU. With the cap limit it never
// writes past the capacity of the slice it is given.
var decoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxSize),
		zstd.WithDecoderMaxWindow(MaxSize),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		panic(err) // unreachable: the options are valid
	}
	return d
})

// Decompress returns the plaintext of a chunk stored as src with codec id,
// refusing with ErrTooLarge to produce more than maxSize bytes (or MaxSize,
// if lower) before allocating or decoding anything. The output is written to
// dst's storage if it is large enough; for None it is src itself.
func Decompress(dst, src []byte, id ID, maxSize int) ([]byte, error) {
	limit := min(max(maxSize, 0), MaxSize)
	switch id {
	case None:
		if len(src) > limit {
			return nil, tooLarge(len(src), limit)
		}
		return src, nil
	case S2:
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("codec: s2: %w", err)
		}
		if n > limit {
			return nil, tooLarge(n, limit)
		}
		out, err := s2.Decode(dst, src)
		if err != nil {
			return nil, fmt.Errorf("codec: s2: %w", err)
		}
		return out, nil
	case Zstd:
		var h zstd.Header
		if err := h.Decode(src); err != nil {
			return nil, fmt.Errorf("codec: zstd: %w", err)
		}
		if !h.HasFCS {
			return nil, errors.New("codec: zstd: frame without content size")
		}
		if h.FrameContentSize > uint64(limit) {
			return nil, tooLarge(h.FrameContentSize, limit)
		}
		n := int(h.FrameContentSize)
		if cap(dst) < n {
			dst = make([]byte, 0, n)
		}
		out, err := decoder().DecodeAll(src, dst[:0:n])
		if err != nil {
			return nil, fmt.Errorf("codec: zstd: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("codec: unknown codec id %d", byte(id))
}

func tooLarge[T int | uint64](n T, limit int) error {
	return fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, n, limit)
}
