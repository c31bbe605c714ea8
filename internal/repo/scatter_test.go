package repo

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/digital-embassy/embassy/internal/seal"
)

// scatterCollect runs ScatterBlobs over want with 4 workers and returns
// the plaintext handed over per index, failing on an index given twice.
func scatterCollect(t *testing.T, d *Dataset, want []ID) (map[int][]byte, int, error) {
	t.Helper()
	var mu sync.Mutex
	got := map[int][]byte{}
	failed, err := d.ScatterBlobs(context.Background(), want, nil, 4, func(i int, b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[i]; dup {
			t.Errorf("index %d handed over twice", i)
		}
		got[i] = bytes.Clone(b)
		return nil
	})
	return got, failed, err
}

// ScatterBlobs hands each index its own plaintext, whatever the order
// and repetitions of the ids, reading each pack range once: a blob listed
// twice is fetched once, and the blobs of one pack listed out of order
// are one read.
func TestScatterBlobs(t *testing.T) {
	d, ids, plains, bs := loadBlobsFixture(t)
	order := []int{5, 2, 9, 0, 7, 1, 8, 3, 6, 4, 5, 5, 0, 19, 11}
	want := make([]ID, len(order))
	for k, i := range order {
		want[k] = ids[i]
	}
	for _, ra := range []int{0, 1 << 20} {
		d.ReadAhead = ra
		before := bs[0].gets.Load() + bs[1].gets.Load()
		got, failed, err := scatterCollect(t, d, want)
		if err != nil || failed != -1 {
			t.Fatal(failed, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d of %d handed over", len(got), len(want))
		}
		for k, i := range order {
			if !bytes.Equal(got[k], plains[i]) {
				t.Fatalf("ReadAhead %d: entry %d (blob %d) differs", ra, k, i)
			}
		}
		if n := bs[0].gets.Load() + bs[1].gets.Load() - before; n != 1 {
			t.Fatalf("ReadAhead %d: %d reads for blobs of one pack, want 1", ra, n)
		}
	}
}

// A pack over twice the tile is read in several ranges that together
// fetch each byte once; blobs far apart are not fetched with the unwanted
// bytes between them.
func TestScatterSpans(t *testing.T) {
	d, ids, _, ws, size := windowFixture(t, 0)
	d.ReadAhead = int(size / 5)
	spans := d.scatterSpans(wantsOf(t, d, ids))
	if len(spans) < 2 {
		t.Fatalf("%d spans for a pack of %d bytes and tiles of %d, want several", len(spans), size, d.ReadAhead)
	}
	for k := 1; k < len(spans); k++ {
		if spans[k].start < spans[k-1].end {
			t.Fatalf("span %d starts at %d, inside the one before (ends %d)", k, spans[k].start, spans[k-1].end)
		}
	}
	for _, sp := range spans {
		if n, tile := sp.end-sp.start, int64(d.ReadAhead); n > 2*tile+tile/2 && len(sp.boxes) > 1 {
			t.Fatalf("a span of %d bytes holding %d boxes, for tiles of %d", n, len(sp.boxes), d.ReadAhead)
		}
	}
	// The first and the last blob only: two reads, not the whole pack.
	spans = d.scatterSpans(wantsOf(t, d, []ID{ids[len(ids)-1], ids[0]}))
	if len(spans) != 2 {
		t.Fatalf("%d spans for two blobs at the ends of the pack, want 2", len(spans))
	}
	got, failed, err := scatterCollect(t, d, []ID{ids[len(ids)-1], ids[0]})
	if err != nil || failed != -1 || len(got) != 2 {
		t.Fatal(failed, err, len(got))
	}
	first, _ := d.Idx.Lookup(ids[0])
	last, _ := d.Idx.Lookup(ids[len(ids)-1])
	if n := ws.bytes.Load(); n != int64(first.Length+last.Length) {
		t.Fatalf("fetched %d bytes for two boxes of %d", n, first.Length+last.Length)
	}
}

func wantsOf(t *testing.T, d *Dataset, ids []ID) []scatterWant {
	t.Helper()
	ws := make([]scatterWant, len(ids))
	for i, id := range ids {
		loc, ok := d.Idx.Lookup(id)
		if !ok {
			t.Fatal("not in index")
		}
		ws[i] = scatterWant{i, id, loc}
	}
	return ws
}

// A box damaged at the first site is read alone from the other; damaged
// at every site, ScatterBlobs names it by its index with an
// authentication error; a blob the index does not hold is named before
// anything is read.
func TestScatterBlobsDamaged(t *testing.T) {
	d, ids, plains, bs := loadBlobsFixture(t)
	corruptPack(t, d, bs[0].Backend, ids[7])
	got, failed, err := scatterCollect(t, d, ids)
	if err != nil || failed != -1 {
		t.Fatalf("one good site left: failed %d, %v", failed, err)
	}
	for i := range plains {
		if !bytes.Equal(got[i], plains[i]) {
			t.Fatalf("blob %d differs", i)
		}
	}
	corruptPack(t, d, bs[1].Backend, ids[7])
	got, failed, err = scatterCollect(t, d, ids)
	if !errors.Is(err, seal.ErrAuth) || failed != 7 {
		t.Fatalf("damaged everywhere: failed %d, err %v; want index 7 and an authentication error", failed, err)
	}
	if _, ok := got[7]; ok {
		t.Fatal("the damaged blob was handed over")
	}
	want := append([]ID{ids[0]}, ID{1, 2, 3})
	if failed, err = d.ScatterBlobs(context.Background(), want, nil, 2, func(int, []byte) error { return nil }); !errors.Is(err, ErrBlobMissing) || failed != 1 {
		t.Fatalf("missing blob: failed %d, err %v", failed, err)
	}
	// fn's own error stops the load and names its index.
	boom := errors.New("disk full")
	if failed, err = d.ScatterBlobs(context.Background(), ids[:3], nil, 2, func(i int, _ []byte) error {
		if i == 1 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) || failed != 1 {
		t.Fatalf("fn's error: failed %d, err %v", failed, err)
	}
}
