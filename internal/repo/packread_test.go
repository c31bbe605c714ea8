package repo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/seal"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// countingBackend counts the ranged reads a site serves.
type countingBackend struct {
	site.Backend
	gets atomic.Int64
}

func (c *countingBackend) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	c.gets.Add(1)
	return c.Backend.Get(ctx, h, off, n, fn)
}

// loadBlobsFixture stores blobs (compressible and not) in one pack at two
// sites and returns the dataset, their ids and plaintexts, and the sites.
func loadBlobsFixture(t *testing.T) (*Dataset, []ID, [][]byte, []*countingBackend) {
	t.Helper()
	ctx := context.Background()
	bs := []*countingBackend{{Backend: mem.New(site.Properties{Name: "lu"})}, {Backend: mem.New(site.Properties{Name: "ch"})}}
	sites := func() []*Site { return []*Site{{Name: "lu", Backend: bs[0]}, {Name: "ch", Backend: bs[1]}} }
	_, rec, _ := keys.GenerateIdentity(true)
	root, home, err := Init(ctx, InitOptions{Custodians: []Custodian{{Recipient: rec}}, Threshold: 1, Sites: sites()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, Options{Home: home, Root: root, Sites: sites()})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := r.EnsureDataset(ctx, "registry")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	w := d.NewWriter(ctx)
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []ID
	var plains [][]byte
	for i := range 20 {
		var p []byte
		if i%2 == 0 {
			p = bytes.Repeat([]byte("38501012231,Mari,Tamm\n"), 50+i)
		} else {
			p = make([]byte, 1000+100*i)
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
		}
		id, _, err := w.SaveBlob(BlobData, p, &Scratch{})
		if err != nil {
			t.Fatal(err)
		}
		ids, plains = append(ids, id), append(plains, p)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return d, ids, plains, bs
}

func collect(t *testing.T, d *Dataset, ids []ID) ([][]byte, error) {
	t.Helper()
	var got [][]byte
	_, err := d.LoadBlobs(context.Background(), ids, nil, func(b []byte) error {
		got = append(got, append([]byte(nil), b...))
		return nil
	})
	return got, err
}

// Neighbouring blobs of one pack come back in order, exactly, from one
// read of their range.
func TestLoadBlobsMergesNeighbours(t *testing.T) {
	d, ids, plains, bs := loadBlobsFixture(t)
	before := bs[0].gets.Load() + bs[1].gets.Load()
	got, err := collect(t, d, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(plains) {
		t.Fatalf("%d blobs, want %d", len(got), len(plains))
	}
	for i := range plains {
		if !bytes.Equal(got[i], plains[i]) {
			t.Fatalf("blob %d differs", i)
		}
	}
	if n := bs[0].gets.Load() + bs[1].gets.Load() - before; n != 1 {
		t.Fatalf("%d reads for %d neighbouring blobs, want 1", n, len(ids))
	}
	// Out of order: still each blob's own bytes.
	rev := []ID{ids[5], ids[4], ids[3]}
	if got, err = collect(t, d, rev); err != nil || !bytes.Equal(got[0], plains[5]) || !bytes.Equal(got[2], plains[3]) {
		t.Fatalf("reversed: %v", err)
	}
}

// corruptPack flips one byte of blob id's box in its pack at site b.
func corruptPack(t *testing.T, d *Dataset, b site.Backend, id ID) {
	t.Helper()
	ctx := context.Background()
	loc, _ := d.Idx.Lookup(id)
	h := d.PackHandle(loc.Pack)
	data, err := ReadObject(ctx, b, h)
	if err != nil {
		t.Fatal(err)
	}
	data[loc.Offset+loc.Length/2] ^= 1
	if err := b.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, h, site.Bytes(data), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A box damaged at the first site inside a merged read is read alone from
// the other site; damaged at every site, the load stops with an
// authentication error at that blob, after the blobs before it.
func TestLoadBlobsDamagedBoxFallsBack(t *testing.T) {
	d, ids, plains, bs := loadBlobsFixture(t)
	corruptPack(t, d, bs[0].Backend, ids[7])
	got, err := collect(t, d, ids)
	if err != nil {
		t.Fatalf("one good site left, load failed: %v", err)
	}
	for i := range plains {
		if !bytes.Equal(got[i], plains[i]) {
			t.Fatalf("blob %d differs", i)
		}
	}
	corruptPack(t, d, bs[1].Backend, ids[7])
	got, err = collect(t, d, ids)
	if !errors.Is(err, seal.ErrAuth) {
		t.Fatalf("damaged everywhere: err %v, want an authentication error", err)
	}
	if len(got) != 7 {
		t.Fatalf("%d blobs delivered before the damaged one, want 7", len(got))
	}
}

// LoadBlobSet hands each blob to fn with its index in ids, reads blobs
// listed out of order with one read when they are neighbours in the pack,
// and on damage everywhere names the failing blob by its index.
func TestLoadBlobSet(t *testing.T) {
	d, ids, plains, bs := loadBlobsFixture(t)
	order := []int{5, 2, 9, 0, 7, 1, 8, 3, 6, 4}
	set := make([]ID, len(order))
	for k, i := range order {
		set[k] = ids[i]
	}
	load := func() (map[int][]byte, int, error) {
		got := map[int][]byte{}
		_, failed, err := d.LoadBlobSet(context.Background(), set, nil, func(k int, b []byte) error {
			if _, dup := got[k]; dup {
				t.Fatalf("blob %d handed over twice", k)
			}
			got[k] = bytes.Clone(b)
			return nil
		})
		return got, failed, err
	}
	before := bs[0].gets.Load() + bs[1].gets.Load()
	got, failed, err := load()
	if err != nil || failed != -1 {
		t.Fatal(failed, err)
	}
	for k, i := range order {
		if !bytes.Equal(got[k], plains[i]) {
			t.Fatalf("set entry %d (blob %d) differs", k, i)
		}
	}
	if n := bs[0].gets.Load() + bs[1].gets.Load() - before; n != 1 {
		t.Fatalf("%d reads for %d neighbouring blobs listed out of order, want 1", n, len(set))
	}
	corruptPack(t, d, bs[0].Backend, ids[7])
	corruptPack(t, d, bs[1].Backend, ids[7])
	got, failed, err = load()
	if !errors.Is(err, seal.ErrAuth) || failed != 4 {
		t.Fatalf("damaged everywhere: failed %d, err %v; want entry 4 (blob 7) and an authentication error", failed, err)
	}
	if len(got) != 7 {
		t.Fatalf("%d blobs delivered before the damaged one, want the 7 before it in the pack", len(got))
	}
	// A blob the index does not hold comes last and is named.
	set = append(set[:2:2], ID{1, 2, 3})
	set = append(set, ids[0])
	if _, failed, err = d.LoadBlobSet(context.Background(), set, nil, func(int, []byte) error { return nil }); !errors.Is(err, ErrBlobMissing) || failed != 2 {
		t.Fatalf("missing blob: failed %d, err %v", failed, err)
	}
}
