package chunker

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// testParams gives many chunks from little data.
var testParams = Params{Min: 1 << 10, Avg: 4 << 10, Max: 16 << 10}

// refCut is Cut written straight from the package documentation.
func refCut(data []byte, tab *Table, p Params) int {
	maskS, maskL := p.masks()
	end := min(p.Max, len(data))
	for n := p.Min; n < end; n++ {
		var h uint64
		for _, b := range data[n-window : n] {
			h = h<<1 + tab.gear[b]
		}
		mask := maskL
		if n < p.Avg {
			mask = maskS
		}
		if h&mask == 0 {
			return n
		}
	}
	return end
}

func TestParamsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		ok   bool
	}{
		{"default", DefaultParams, true},
		{"small", testParams, true},
		{"tiny", Params{Min: 64, Avg: 128, Max: 129}, true},
		{"min below window", Params{Min: 63, Avg: 128, Max: 256}, false},
		{"avg not power of two", Params{Min: 512, Avg: 1000, Max: 4096}, false},
		{"min equals avg", Params{Min: 1024, Avg: 1024, Max: 4096}, false},
		{"avg equals max", Params{Min: 512, Avg: 1024, Max: 1024}, false},
		{"max too large", Params{Min: 1 << 20, Avg: 1 << 24, Max: MaxLimit + 1}, false},
		{"zero", Params{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestKnownAnswer pins the format: changing any of these values breaks
// deduplication against existing repositories.
func TestKnownAnswer(t *testing.T) {
	tab := NewTable(testKey(0))
	if got, want := [2]uint64{tab.gear[0], tab.gear[255]}, [2]uint64{0x6aef67157e63781a, 0x0b721c9bedf8ace4}; got != want {
		t.Errorf("gear table ends = %#x, want %#x", got, want)
	}
	for _, tc := range []struct {
		name string
		data []byte
		p    Params
		want []int
	}{
		{"default", randomData(24<<20, "embassy chunker kat"), DefaultParams, []int{
			1089415, 581067, 1103031, 1557560, 2007147, 743679, 1098742,
			1218470, 1057703, 1841725, 1358912, 1290636, 1059788, 818311,
			1244605, 1140088, 1071418, 1429043, 1063192, 1362537, 1028755,
		}},
		{"small", randomData(64<<10, "embassy chunker kat small"), testParams, []int{
			5418, 4782, 5146, 2539, 4403, 4478, 1728, 4098, 4654, 1536, 4768,
			4806, 4429, 4279, 3303, 4878, 291,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lengths(t, bytes.NewReader(tc.data), tab, tc.p)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("chunk lengths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCutMatchesReference(t *testing.T) {
	tab := NewTable(testKey(3))
	for _, p := range []Params{testParams, {Min: 64, Avg: 128, Max: 1024}, {Min: 100, Avg: 4096, Max: 5000}} {
		data := randomData(256<<10, "reference")
		for len(data) > 0 {
			got, want := Cut(data, tab, p), refCut(data, tab, p)
			if got != want {
				t.Fatalf("%+v: Cut = %d, want %d", p, got, want)
			}
			data = data[got:]
		}
	}
}

func TestKeys(t *testing.T) {
	data := randomData(1<<20, "keys")
	a := lengths(t, bytes.NewReader(data), NewTable(testKey(1)), testParams)
	again := lengths(t, bytes.NewReader(data), NewTable(testKey(1)), testParams)
	other := lengths(t, bytes.NewReader(data), NewTable(testKey(2)), testParams)
	if diff := cmp.Diff(a, again); diff != "" {
		t.Errorf("same key, different chunks (-first +second):\n%s", diff)
	}
	if cmp.Equal(a[:4], other[:4]) {
		t.Errorf("different keys, same first chunks %v", a[:4])
	}
}

func TestShiftResistance(t *testing.T) {
	tab := NewTable(testKey(4))
	data := randomData(2<<20, "shift")
	base := chunkSet(t, data, tab)
	for _, n := range []int{1, 7, 64, 1000, 5000} {
		shifted := append(randomData(n, "prefix"), data...)
		c := New(bytes.NewReader(shifted), tab, testParams, nil)
		last, total := -1, 0 // last is the index of the last new chunk
		for ; ; total++ {
			b, err := c.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !base[string(b)] {
				last = total
			}
		}
		if limit := 2 + n/testParams.Min; last > limit {
			t.Errorf("inserting %d bytes changed chunk %d of %d, want none past %d", n, last, total, limit)
		}
	}
}

func chunkSet(t *testing.T, data []byte, tab *Table) map[string]bool {
	c := New(bytes.NewReader(data), tab, testParams, nil)
	m := make(map[string]bool)
	for {
		b, err := c.Next()
		if err == io.EOF {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		m[string(b)] = true
	}
}

func TestBoundsAndReaders(t *testing.T) {
	tab := NewTable(testKey(5))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"shorter than min", randomData(testParams.Min-1, "short")},
		{"exactly min", randomData(testParams.Min, "min")},
		{"zeros", make([]byte, 100<<10)},
		{"random", randomData(1<<20, "bounds")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := lengths(t, bytes.NewReader(tc.data), tab, testParams)
			checkChunks(t, tc.data, want, testParams)
			for name, r := range map[string]io.Reader{
				"one byte":      iotest.OneByteReader(bytes.NewReader(tc.data)),
				"half":          iotest.HalfReader(bytes.NewReader(tc.data)),
				"data with eof": iotest.DataErrReader(bytes.NewReader(tc.data)),
			} {
				if diff := cmp.Diff(want, lengths(t, r, tab, testParams)); diff != "" {
					t.Errorf("%s reader (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// checkChunks checks that the chunk lengths ns cover data, respect p and
// agree with Cut.
func checkChunks(t *testing.T, data []byte, ns []int, p Params) {
	t.Helper()
	tab := NewTable(testKey(5))
	rest := data
	for i, n := range ns {
		if n <= 0 || n > p.Max || n < p.Min && i != len(ns)-1 {
			t.Fatalf("chunk %d of %d has length %d outside [%d, %d]", i, len(ns), n, p.Min, p.Max)
		}
		if n > len(rest) {
			t.Fatalf("chunks longer than input")
		}
		if c := Cut(rest, tab, p); c != n {
			t.Fatalf("chunk %d: Cut = %d, Next = %d", i, c, n)
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes not covered by chunks", len(rest))
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(randomData(10, "x")), iotest.ErrReader(boom))
	c := New(r, NewTable(testKey(6)), testParams, nil)
	for range 2 {
		if _, err := c.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next() error = %v, want %v", err, boom)
		}
	}
}

func TestBufferReuse(t *testing.T) {
	buf := make([]byte, testParams.Max+readSize)
	c := New(bytes.NewReader(randomData(100, "reuse")), NewTable(testKey(7)), testParams, buf)
	b, err := c.Next()
	if err != nil || &b[0] != &buf[0] {
		t.Fatalf("Next() = %d bytes, %v; want the caller's buffer", len(b), err)
	}
	c.Reset(bytes.NewReader(nil))
	if _, err := c.Next(); err != io.EOF {
		t.Fatalf("Next() after Reset(empty) error = %v, want io.EOF", err)
	}
}
