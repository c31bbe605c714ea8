package chunker

import (
	"errors"
	"fmt"
	"math/bits"
)

// window is the number of bytes a gear hash depends on.
const window = 64

// MaxLimit is the largest Max accepted by Params.Validate.
const MaxLimit = 64 << 20

// Params bounds the chunk sizes. Avg is the FastCDC normal size, where the
// stricter mask gives way to the looser one; the mean chunk size is somewhat
// above it because no chunk is cut before Min.
type Params struct {
	Min, Avg, Max int
}

// DefaultParams gives chunks of 512 KiB to 8 MiB, about 1.2 MiB on average.
var DefaultParams = Params{Min: 512 << 10, Avg: 1 << 20, Max: 8 << 20}

// Validate reports whether p can be used for chunking.
func (p Params) Validate() error {
	switch {
	case p.Min < window:
		return fmt.Errorf("chunker: min %d below %d", p.Min, window)
	case p.Avg&(p.Avg-1) != 0:
		return fmt.Errorf("chunker: avg %d not a power of two", p.Avg)
	case p.Min >= p.Avg || p.Avg >= p.Max:
		return errors.New("chunker: need min < avg < max")
	case p.Max > MaxLimit:
		return fmt.Errorf("chunker: max %d above %d", p.Max, MaxLimit)
	}
	return nil
}

// masks returns the FastCDC masks for normalisation level 2.
func (p Params) masks() (small, large uint64) {
	b := bits.TrailingZeros(uint(p.Avg))
	return ^uint64(0) << (64 - (b + 2)), ^uint64(0) << (64 - (b - 2))
}
