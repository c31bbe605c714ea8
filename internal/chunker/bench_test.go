package chunker

import (
	"bytes"
	"io"
	"testing"
)

func BenchmarkChunker(b *testing.B) {
	data := randomData(64<<20, "bench")
	tab := NewTable(testKey(1))
	buf := make([]byte, DefaultParams.Max+readSize)
	r := bytes.NewReader(data)
	c := New(r, tab, DefaultParams, buf)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	chunks := 0
	for range b.N {
		r.Reset(data)
		c.Reset(r)
		for {
			_, err := c.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			chunks++
		}
	}
	b.ReportMetric(float64(len(data))*float64(b.N)/float64(chunks)/(1<<20), "MiB/chunk")
}

// BenchmarkSearch measures the raw gear hash loop, with a mask that never
// matches.
func BenchmarkSearch(b *testing.B) {
	data := randomData(8<<20, "bench")
	tab := NewTable(testKey(1))
	b.SetBytes(int64(len(data)))
	for range b.N {
		if search(&tab.gear, data, ^uint64(0)) != -1 {
			b.Fatal("mask matched")
		}
	}
}
