package repo

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/digital-embassy/embassy/internal/codec"
)

// scatterTile is the size ScatterBlobs fetches a pack in when ReadAhead
// is not set: a default pack (DefaultPackSize) is one read.
const scatterTile = 4 << 20

// scatterWant is one blob ScatterBlobs was asked for: ids[i], at loc.
type scatterWant struct {
	i   int
	id  ID
	loc BlobLoc
}

// scatterBox is a run ws[lo:hi] of wants for the same box.
type scatterBox struct{ lo, hi int }

// scatterSpan is one read: bytes [start, end) of pack, holding boxes.
type scatterSpan struct {
	pack       ID
	start, end int64
	boxes      []scatterBox
}

// ScatterBlobs calls fn(i, plaintext of ids[i]) for every i, from up to
// workers goroutines at once, in the order the blobs lie in their packs
// rather than in the order of ids. Each pack's wanted boxes are fetched
// with one read of their range (split into reads of at least ReadAhead
// bytes, 4 MiB when unset, only for packs over two and a half times that,
// and wherever an eighth of that or the sites' read unit of unwanted
// bytes lie between them), so every byte is fetched once whatever the
// order of ids: a restore of
// files whose blobs the snapshot's workers interleaved in shared packs
// fetched each read-ahead window two to three times (bench/README.md,
// rounds seven and nine). A blob listed several times is opened once and
// handed to fn for each i.
//
// Every box is authenticated, its length checked against the index and
// its plaintext against its keyed id, as LoadBlob does; a box that does
// not open from its range, or a range no site returned, is read again
// alone by LoadBlob, with its per-site fallback and alerts.
//
// fn may be called concurrently; the plaintext is valid only during the
// call. On an error, failed is the index in ids of the blob being loaded
// or handed to fn, and the blobs fn was not yet given are not loaded.
//
// locs, when not nil, are the blobs' locations as Locate returned them
// (a caller that needed them already, for the blobs' sizes, spares the
// index a second lookup each); nil looks them up.
func (d *Dataset) ScatterBlobs(ctx context.Context, ids []ID, locs []BlobLoc, workers int, fn func(i int, plain []byte) error) (failed int, err error) {
	ws := make([]scatterWant, len(ids))
	for i, id := range ids {
		var loc BlobLoc
		if locs != nil {
			loc = locs[i]
		} else if loc, err = d.Locate(id); err != nil {
			return i, err
		}
		ws[i] = scatterWant{i, id, loc}
	}
	spans := d.scatterSpans(ws)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	failed = -1
	for range max(1, min(workers, len(spans))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte // decompression, kept from box to box
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= len(spans) {
					return
				}
				var at int
				var err error
				if buf, at, err = d.readSpan(ctx, &spans[k], ws, buf, fn); err != nil {
					once.Do(func() { failed, firstErr = at, err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return failed, firstErr
	}
	return -1, context.Cause(ctx)
}

// scatterSpans sorts ws into pack order and cuts the reads.
func (d *Dataset) scatterSpans(ws []scatterWant) []scatterSpan {
	slices.SortFunc(ws, func(a, b scatterWant) int {
		if c := bytes.Compare(a.loc.Pack[:], b.loc.Pack[:]); c != 0 {
			return c
		}
		if c := cmp.Compare(a.loc.Offset, b.loc.Offset); c != 0 {
			return c
		}
		if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	tile := int64(d.ReadAhead)
	if tile <= 0 {
		tile = scatterTile
	}
	// Unwanted bytes of an eighth of a tile (512 KiB) are fetched rather
	// than split the read; a gap of a read unit (an erasure group's
	// stripe) or more between two reads means they share no stripe.
	gap := max(d.r.readAlign(), tile/8)
	// A pack is one read up to two and a half tiles: a default pack
	// (8 MiB, and the blob that crossed its target) is one read, as no
	// split point is on a stripe boundary and the stripe across one is
	// fetched by both reads.
	maxSpan := 2*tile + tile/2
	var spans []scatterSpan
	for lo := 0; lo < len(ws); {
		hi := lo + 1
		for hi < len(ws) && ws[hi].loc.Pack == ws[lo].loc.Pack && ws[hi].loc.Offset == ws[lo].loc.Offset && ws[hi].id == ws[lo].id {
			hi++
		}
		loc := ws[lo].loc
		off, end := int64(loc.Offset), int64(loc.Offset)+int64(loc.Length)
		if n := len(spans); n > 0 {
			sp := &spans[n-1]
			if sp.pack == loc.Pack && off-sp.end < gap && (end-sp.start <= maxSpan || sp.end-sp.start < tile) {
				sp.end = max(sp.end, end)
				sp.boxes = append(sp.boxes, scatterBox{lo, hi})
				lo = hi
				continue
			}
		}
		spans = append(spans, scatterSpan{pack: loc.Pack, start: off, end: end, boxes: []scatterBox{{lo, hi}}})
		lo = hi
	}
	return spans
}

// readSpan fetches sp and hands each of its boxes' plaintexts to fn.
func (d *Dataset) readSpan(ctx context.Context, sp *scatterSpan, ws []scatterWant, buf []byte, fn func(i int, plain []byte) error) ([]byte, int, error) {
	rb := getReadBuf(int(sp.end - sp.start))
	defer readBufs.Put(rb)
	var data []byte
	var from *Site
	err := d.r.readFirstInto(ctx, d.PackHandle(sp.pack), sp.start, *rb, func(s *Site, b []byte) error {
		data, from = b, s
		return nil
	})
	for _, bx := range sp.boxes {
		w := &ws[bx.lo]
		var out []byte
		ok := false
		if err == nil {
			k, kerr := d.Keys.Key(w.loc.KeyVersion)
			if kerr != nil {
				return buf, w.i, kerr
			}
			off := int64(w.loc.Offset) - sp.start
			var oerr error
			out, oerr = d.openBox(ctx, from, k, w.id, w.loc, data[off:off+int64(w.loc.Length)], buf, false)
			ok = oerr == nil
		}
		if !ok {
			// The range could not be read, or this box did not open from
			// it: read it alone, trying every site (and alerting, once, on
			// a substitute).
			var lerr error
			if out, lerr = d.LoadBlob(ctx, w.id, buf); lerr != nil {
				return buf, w.i, lerr
			}
		}
		// A compressed blob's plaintext was decompressed into buf (perhaps
		// grown); an uncompressed one lies in the read buffer.
		if w.loc.Codec != codec.None && cap(out) > cap(buf) {
			buf = out[:0]
		}
		for x := bx.lo; x < bx.hi; x++ {
			if ferr := fn(ws[x].i, out); ferr != nil {
				return buf, ws[x].i, ferr
			}
		}
	}
	return buf, -1, nil
}
