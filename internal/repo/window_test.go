package repo

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// windowSite counts the pack GETs and bytes a site serves, reports align as
// its read unit, and makes each pack GET take a while, so that readers
// asking at the same time find each other's windows still being read.
type windowSite struct {
	site.Backend
	align       int64
	gets, bytes atomic.Int64
}

func (w *windowSite) Properties() site.Properties {
	p := w.Backend.Properties()
	p.ReadAlign = w.align
	return p
}

func (w *windowSite) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if h.Kind != site.KindPack {
		return w.Backend.Get(ctx, h, off, n, fn)
	}
	w.gets.Add(1)
	w.bytes.Add(n)
	time.Sleep(20 * time.Millisecond) // widens the race; nothing here is timed
	return w.Backend.Get(ctx, h, off, n, fn)
}

// windowFixture is loadBlobsFixture read through one windowSite only.
func windowFixture(t *testing.T, align int64) (*Dataset, []ID, [][]byte, *windowSite, int64) {
	t.Helper()
	d, ids, plains, bs := loadBlobsFixture(t)
	ws := &windowSite{Backend: bs[0], align: align}
	d.r.sites = []*Site{{Name: "lu", Backend: ws}}
	loc, _ := d.Idx.Lookup(ids[0])
	return d, ids, plains, ws, d.Idx.PackSize(loc.Pack)
}

// TestWindowSharedWhileRead: readers that ask for a pack's blobs while its
// window is still being read wait for that window rather than each
// fetching one of their own; every blob is still its own bytes.
func TestWindowSharedWhileRead(t *testing.T) {
	d, ids, plains, ws, size := windowFixture(t, 0)
	d.ReadAhead = int(size) // one window holds the whole pack
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			got, err := collect(t, d, ids)
			for i := range got {
				if err == nil && !bytes.Equal(got[i], plains[i]) {
					err = io.ErrUnexpectedEOF
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := ws.gets.Load(); n != 1 {
		t.Fatalf("8 readers at once made %d pack GETs, want 1", n)
	}
}

// TestWindowsFetchEachByteOnce: read in order through windows smaller than
// the pack, so that boxes lie across two of them (copied together before
// they are opened), the site is asked for each byte of the pack at most
// once. With a read unit, the windows start and end on its multiples,
// unless it is far larger than ReadAhead (memory goes first).
func TestWindowsFetchEachByteOnce(t *testing.T) {
	for _, align := range []int64{0, 4096, 1 << 30} {
		d, ids, plains, ws, size := windowFixture(t, align)
		d.ReadAhead = int(size / 3)
		got, err := collect(t, d, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i := range plains {
			if !bytes.Equal(got[i], plains[i]) {
				t.Fatalf("align %d: blob %d differs", align, i)
			}
		}
		if ws.bytes.Load() > size {
			t.Fatalf("align %d: %d pack bytes fetched for a pack of %d", align, ws.bytes.Load(), size)
		}
		if ws.gets.Load() < 2 {
			t.Fatalf("align %d: %d GETs: the windows did not cut the pack", align, ws.gets.Load())
		}
		d.winMu.Lock()
		for _, w := range d.wins {
			if len(w.data) > 2*d.ReadAhead {
				t.Errorf("align %d: a window of %d bytes for ReadAhead %d", align, len(w.data), d.ReadAhead)
			}
			if align > 0 && align <= int64(d.ReadAhead) && (w.off%align != 0 || (w.off+int64(len(w.data)) != size && (w.off+int64(len(w.data)))%align != 0)) {
				t.Errorf("align %d: window [%d, %d) of a pack of %d", align, w.off, w.off+int64(len(w.data)), size)
			}
		}
		d.winMu.Unlock()
	}
}
