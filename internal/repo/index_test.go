package repo

import (
	"sync"
	"testing"

	"github.com/digital-embassy/embassy/internal/codec"
)

// TestIndexCompactLocations: the index keeps packs by number, and hands
// back exactly the locations it was given; a blob listed in two packs
// resolves to the lowest (pack, offset) in whichever order they load, and
// counts as a duplicate.
func TestIndexCompactLocations(t *testing.T) {
	pa, pb := ID{0x01}, ID{0x02}
	blob := func(b byte) ID { return ID{0xb0, b} }
	packA := IndexPack{ID: pa, KeyVersion: 3, Size: 1000, Entries: []PackEntry{
		{Type: BlobData, Codec: codec.Zstd, ID: blob(1), Offset: 12, Length: 100, Raw: 300},
		{Type: BlobTree, Codec: codec.None, ID: blob(2), Offset: 112, Length: 50, Raw: 22},
	}}
	packB := IndexPack{ID: pb, KeyVersion: 4, Size: 2000, Entries: []PackEntry{
		{Type: BlobData, Codec: codec.None, ID: blob(1), Offset: 12, Length: 328, Raw: 300},
		{Type: BlobData, Codec: codec.None, ID: blob(3), Offset: 340, Length: 40, Raw: 12},
	}}
	for _, order := range [][]IndexPack{{packA, packB}, {packB, packA}} {
		x := newIndex()
		for _, p := range order {
			x.addPack(p)
		}
		want := map[ID]BlobLoc{
			blob(1): {Pack: pa, KeyVersion: 3, Type: BlobData, Codec: codec.Zstd, Offset: 12, Length: 100, Raw: 300},
			blob(2): {Pack: pa, KeyVersion: 3, Type: BlobTree, Codec: codec.None, Offset: 112, Length: 50, Raw: 22},
			blob(3): {Pack: pb, KeyVersion: 4, Type: BlobData, Codec: codec.None, Offset: 340, Length: 40, Raw: 12},
		}
		for id, w := range want {
			got, ok := x.Lookup(id)
			if !ok || got != w {
				t.Errorf("order %v: Lookup(%s) = %+v, %v; want %+v", order[0].ID.Short(), id.Short(), got, ok, w)
			}
			if !x.Has(id) {
				t.Errorf("Has(%s) false", id.Short())
			}
		}
		if _, ok := x.Lookup(blob(9)); ok || x.Has(blob(9)) {
			t.Error("an unknown blob is found")
		}
		seen := map[ID]BlobLoc{}
		x.Each(func(id ID, l BlobLoc) { seen[id] = l })
		if len(seen) != 3 || x.Len() != 3 {
			t.Errorf("Each saw %d blobs, Len %d; want 3", len(seen), x.Len())
		}
		for id, l := range seen {
			if want[id] != l {
				t.Errorf("Each(%s) = %+v", id.Short(), l)
			}
		}
		if x.Duplicates() != 1 {
			t.Errorf("%d duplicates, want 1", x.Duplicates())
		}
		if x.PackSize(pa) != 1000 || x.PackSize(pb) != 2000 || x.PackSize(ID{9}) != 0 {
			t.Errorf("pack sizes %d %d", x.PackSize(pa), x.PackSize(pb))
		}
		if ps := x.Packs(); len(ps) != 2 || ps[pb] != 2000 {
			t.Errorf("Packs() = %v", ps)
		}
	}
}

// TestLoadAdmission: loads run up to the count while their sizes fit, one
// at a time when each alone is over the byte bound, and never deadlock.
func TestLoadAdmission(t *testing.T) {
	for _, tc := range []struct {
		size    int64
		wantMax int
	}{{size: 1 << 20, wantMax: 4}, {size: 100 << 20, wantMax: 1}, {size: 40 << 20, wantMax: 1}, {size: 0, wantMax: 4}} {
		a := newLoadAdmission(4, 64<<20)
		var mu sync.Mutex
		running, peak := 0, 0
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for range 12 {
			a.acquire(tc.size)
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			wg.Add(1)
			go func(gate chan struct{}) {
				defer wg.Done()
				<-gate
				mu.Lock()
				running--
				mu.Unlock()
				a.release(tc.size)
			}(gate)
			// Let the loads admitted so far finish only once the next one
			// would have to wait: peak is then the bound, not a race.
			if a.full(tc.size) {
				close(gate)
				gate = make(chan struct{})
			}
		}
		close(gate)
		wg.Wait()
		if peak != tc.wantMax {
			t.Errorf("size %d: %d loads ran at once, want %d", tc.size, peak, tc.wantMax)
		}
	}
}

// full reports whether acquire(n) would wait now.
func (a *loadAdmission) full(n int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running > 0 && (a.running >= a.max || a.inflight+n > a.bytes)
}
