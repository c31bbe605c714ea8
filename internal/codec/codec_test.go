package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// TestIDs pins the codec IDs written in the repository format.
func TestIDs(t *testing.T) {
	got := map[ID]string{None: None.String(), Zstd: Zstd.String(), S2: S2.String(), 9: ID(9).String()}
	want := map[ID]string{0: "none", 1: "zstd", 2: "s2", 9: "codec(9)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
}

func TestRoundTrip(t *testing.T) {
	csv, rnd := registryCSV(1<<20, 1), randomData(1<<20, "rt")
	mixed := append(registryCSV(512<<10, 2), randomData(512<<10, "mixed")...)
	for _, tc := range []struct {
		name string
		src  []byte
		mode Mode
		want ID
	}{
		{"empty auto", nil, Auto, None},
		{"empty max", []byte{}, Max, None},
		{"tiny auto", []byte("a"), Auto, None},
		{"tiny max", []byte("a"), Max, None},
		{"text auto", []byte(strings.Repeat("embassy ", 100)), Auto, S2},
		{"text max", []byte(strings.Repeat("embassy ", 100)), Max, Zstd},
		{"zeros auto", make([]byte, 3<<20), Auto, S2},
		{"csv auto", csv, Auto, S2},
		{"csv off", csv, Off, None},
		{"csv max", csv, Max, Zstd},
		{"mixed auto", mixed, Auto, S2},
		{"random auto", rnd, Auto, None},
		{"random max", rnd, Max, None},
		{"random off", rnd, Off, None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, id := Compress(nil, tc.src, tc.mode)
			if id != tc.want {
				t.Fatalf("Compress() id = %v, want %v", id, tc.want)
			}
			if id != None && len(out) > len(tc.src)-len(tc.src)/minSaving {
				t.Errorf("Compress() = %d bytes from %d, want at least 3%% less", len(out), len(tc.src))
			}
			got, err := Decompress(nil, out, id, len(tc.src))
			if err != nil {
				t.Fatalf("Decompress() error = %v", err)
			}
			if !bytes.Equal(got, tc.src) {
				t.Errorf("round trip changed %d bytes into %d different bytes", len(tc.src), len(got))
			}
		})
	}
}

func TestCSVRatio(t *testing.T) {
	csv := registryCSV(1<<20, 3)
	for _, tc := range []struct {
		mode Mode
		min  float64
	}{{Auto, 2}, {Max, 3}} {
		out, _ := Compress(nil, csv, tc.mode)
		if r := float64(len(csv)) / float64(len(out)); r < tc.min {
			t.Errorf("mode %d: csv ratio %.2f, want at least %.1f", tc.mode, r, tc.min)
		}
	}
}

// TestIncompressibleCheap checks that Auto gives up on random data from a
// sample alone: compressing the whole chunk would need an output buffer.
func TestIncompressibleCheap(t *testing.T) {
	rnd := randomData(1<<20, "cheap")
	allocs := testing.AllocsPerRun(10, func() {
		if out, id := Compress(nil, rnd, Auto); id != None || &out[0] != &rnd[0] {
			t.Fatalf("Compress(random) = %v, want src with None", id)
		}
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("Compress(random) made %v allocations, want 0", allocs)
	}
}

func TestReuseBuffers(t *testing.T) {
	csv := registryCSV(1<<20, 4)
	cbuf, dbuf := make([]byte, 2<<20), make([]byte, 1<<20)
	for _, mode := range []Mode{Auto, Max} {
		out, id := Compress(cbuf, csv, mode)
		if &out[0] != &cbuf[0] {
			t.Errorf("mode %d: Compress did not use dst", mode)
		}
		allocs := testing.AllocsPerRun(5, func() {
			got, err := Decompress(dbuf, out, id, len(csv))
			if err != nil || &got[0] != &dbuf[0] {
				t.Fatalf("%v: Decompress() = %v, did not use dst", id, err)
			}
		})
		if allocs != 0 && !raceEnabled {
			t.Errorf("%v: Decompress made %v allocations, want 0", id, allocs)
		}
	}
}

func TestDecompressErrors(t *testing.T) {
	zeros := make([]byte, 4<<20)
	zbomb, _ := Compress(nil, zeros, Max)
	sbomb, _ := Compress(nil, zeros, Auto)
	var stream bytes.Buffer // a streamed frame has no content size
	w, _ := zstd.NewWriter(&stream)
	w.Write([]byte("streamed"))
	w.Close()
	lying := bytes.Clone(zbomb)
	lying[7]-- // single segment frame: the content size is bytes 5 to 8
	for _, tc := range []struct {
		name    string
		src     []byte
		id      ID
		max     int
		tooBig  bool
		errText string
	}{
		{"zstd bomb", zbomb, Zstd, 1 << 20, true, ""},
		{"s2 bomb", sbomb, S2, 1 << 20, true, ""},
		{"none too long", zeros, None, 1 << 20, true, ""},
		{"negative max", []byte("x"), None, -1, true, ""},
		{"above MaxSize", s2.Encode(nil, make([]byte, MaxSize+1)), S2, MaxSize + 2, true, ""},
		{"unknown id", []byte("x"), 3, 10, false, "unknown codec id 3"},
		{"zstd garbage", []byte("garbage"), Zstd, 10, false, "zstd"},
		{"zstd empty", nil, Zstd, 10, false, "zstd"},
		{"zstd no size", stream.Bytes(), Zstd, 10, false, "without content size"},
		{"zstd lying size", lying, Zstd, len(zeros), false, "zstd"},
		{"s2 garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, S2, 10, false, "s2"},
		{"s2 truncated", sbomb[:len(sbomb)/2], S2, len(zeros), false, "s2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Decompress(nil, tc.src, tc.id, tc.max)
			if err == nil {
				t.Fatalf("Decompress() = %d bytes, want error", len(out))
			}
			if errors.Is(err, ErrTooLarge) != tc.tooBig || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("Decompress() error = %v, want too large %v, containing %q", err, tc.tooBig, tc.errText)
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	csv := registryCSV(256<<10, 8)
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			for _, mode := range []Mode{Auto, Max, Auto, Max} {
				out, id := Compress(nil, csv, mode)
				got, err := Decompress(nil, out, id, len(csv))
				if err == nil && !bytes.Equal(got, csv) {
					err = errors.New("round trip changed the data")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
