package chunker

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

func FuzzChunker(f *testing.F) {
	f.Add([]byte{}, byte(0))
	f.Add(randomData(5000, "fuzz"), byte(1))
	f.Add(make([]byte, 3000), byte(2))
	tab := NewTable(testKey(8))
	p := Params{Min: 64, Avg: 256, Max: 1024}
	buf := make([]byte, p.Max+readSize)
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		var r io.Reader = bytes.NewReader(data)
		if mode&1 == 1 {
			r = iotest.OneByteReader(r)
		}
		c := New(r, tab, p, buf)
		var got []byte
		rest := data
		for i := 0; ; i++ {
			b, err := c.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 || len(b) > p.Max || len(b) < p.Min && len(b) != len(rest) {
				t.Fatalf("chunk %d has length %d", i, len(b))
			}
			if want := refCut(rest, tab, p); len(b) != want {
				t.Fatalf("chunk %d has length %d, reference %d", i, len(b), want)
			}
			got = append(got, b...)
			rest = rest[len(b):]
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("chunks do not concatenate to the input")
		}
	})
}
