package codec

import (
	"bytes"
	"testing"
)

func FuzzDecompress(f *testing.F) {
	csv := registryCSV(4<<10, 5)
	for _, mode := range []Mode{Auto, Max} {
		out, id := Compress(nil, csv, mode)
		f.Add(out, byte(id), 1<<20)
		f.Add(out, byte(id), 100)
	}
	f.Add([]byte("x"), byte(None), 0)
	f.Add([]byte{}, byte(7), 10)
	f.Fuzz(func(t *testing.T, src []byte, id byte, maxSize int) {
		maxSize %= 1 << 22
		out, err := Decompress(nil, src, ID(id), maxSize)
		if err == nil && len(out) > max(maxSize, 0) {
			t.Fatalf("Decompress() = %d bytes, over maxSize %d", len(out), maxSize)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, byte(Auto))
	f.Add(registryCSV(1000, 6), byte(Auto))
	f.Add(registryCSV(1000, 7), byte(Max))
	f.Add(bytes.Repeat(randomData(70<<10, "f"), 2), byte(Auto))
	f.Fuzz(func(t *testing.T, src []byte, mode byte) {
		out, id := Compress(nil, src, Mode(mode%3))
		got, err := Decompress(nil, out, id, len(src))
		if err != nil {
			t.Fatalf("Decompress(%v) error = %v", id, err)
		}
		if !bytes.Equal(got, src) {
			t.Fatalf("round trip through %v changed the data", id)
		}
	})
}
