package codec

import (
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

var benchData = map[string][]byte{
	"random": randomData(1<<20, "bench"),
	"csv":    registryCSV(1<<20, 42),
}

func BenchmarkCompress(b *testing.B) {
	for _, data := range []string{"random", "csv"} {
		for _, mode := range []struct {
			name string
			m    Mode
		}{{"auto", Auto}, {"max", Max}} {
			b.Run(data+"/"+mode.name, func(b *testing.B) {
				src := benchData[data]
				dst := make([]byte, 2*len(src))
				var out []byte
				b.SetBytes(int64(len(src)))
				for range b.N {
					out, _ = Compress(dst, src, mode.m)
				}
				b.ReportMetric(float64(len(src))/float64(len(out)), "ratio")
			})
		}
	}
}

func BenchmarkDecompress(b *testing.B) {
	src := benchData["csv"]
	for _, mode := range []Mode{Auto, Max} {
		in, id := Compress(nil, src, mode)
		b.Run(id.String(), func(b *testing.B) {
			dst := make([]byte, len(src))
			b.SetBytes(int64(len(src)))
			for range b.N {
				if _, err := Decompress(dst, in, id, len(src)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCandidates compares the codecs considered for Auto on CSV.
func BenchmarkCandidates(b *testing.B) {
	zenc := func(l zstd.EncoderLevel) func(dst, src []byte) []byte {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
		if err != nil {
			b.Fatal(err)
		}
		return func(dst, src []byte) []byte { return e.EncodeAll(src, dst[:0]) }
	}
	for _, c := range []struct {
		name string
		enc  func(dst, src []byte) []byte
	}{
		{"s2", s2.Encode},
		{"s2-better", s2.EncodeBetter},
		{"zstd-fastest", zenc(zstd.SpeedFastest)},
		{"zstd-default", zenc(zstd.SpeedDefault)},
		{"zstd-better", zenc(zstd.SpeedBetterCompression)},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := benchData["csv"]
			dst := make([]byte, 2*len(src))
			var out []byte
			b.SetBytes(int64(len(src)))
			for range b.N {
				out = c.enc(dst, src)
			}
			b.ReportMetric(float64(len(src))/float64(len(out)), "ratio")
		})
	}
}
