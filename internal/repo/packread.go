package repo

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/seal"
	"github.com/digital-embassy/embassy/internal/site"
)

// readBufs holds the buffers merged reads land in. A fresh buffer per
// read made the restore allocate as many bytes as it read (0.5 GiB for
// the 512 MiB corpus), and the collector, at GOGC=25 with a small live
// heap, ran every few MiB: 10-15% of the restore's CPU.
var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// getReadBuf returns a pooled buffer of at least n bytes (length n).
func getReadBuf(n int) *[]byte {
	b := readBufs.Get().(*[]byte)
	if cap(*b) < n {
		*b = make([]byte, n, max(n, 1<<20))
	}
	*b = (*b)[:n]
	return b
}

// readFirstInto is readFirst for a range read into dst (len(dst) bytes
// at off), which fn may use only during the call: the first site whose
// bytes fn accepts wins, and sites that failed before it are noted.
func (r *Repo) readFirstInto(ctx context.Context, h site.Handle, off int64, dst []byte, fn func(s *Site, b []byte) error) error {
	var errs []error
	var failed []*Site
	var failures []error
	for _, s := range r.sites {
		if s.Backend == nil || !s.holds(h.Kind) {
			continue
		}
		err := s.Backend.Get(ctx, h, off, int64(len(dst)), func(rd io.Reader) error {
			_, err := io.ReadFull(rd, dst)
			return err
		})
		if err == nil {
			if err = fn(s, dst); err == nil {
				for i, f := range failed {
					f.noteRead(fmt.Errorf("read %s: %w", h, failures[i]))
				}
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, site.ErrNotFound) {
			failed, failures = append(failed, s), append(failures, err)
		}
		errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
	}
	if len(errs) == 0 {
		return fmt.Errorf("read %s: no site available", h)
	}
	return fmt.Errorf("read %s: %w", h, errors.Join(errs...))
}

// maxMergedRead bounds one merged read of neighbouring blobs (memory: one
// such buffer per reader).
const maxMergedRead = 4 << 20

// openBox decrypts box (loc's bytes of blob id, as site s returned them;
// s is nil for a read-ahead window) in place and returns the plaintext,
// decompressed into buf when the blob is compressed. It checks the length
// the index records and that the plaintext hashes to id, raising a
// substitution alert when it does not and alert is set.
func (d *Dataset) openBox(ctx context.Context, s *Site, k *DataKey, id ID, loc BlobLoc, box, buf []byte, alert bool) ([]byte, error) {
	return d.openBoxInto(ctx, s, k, id, loc, box, nil, buf, alert, false)
}

// openBoxInto is openBox decrypting into dst[:0] (grown when too small)
// instead of in place when into is set: box, a read-ahead window's bytes,
// is then only read.
func (d *Dataset) openBoxInto(ctx context.Context, s *Site, k *DataKey, id ID, loc BlobLoc, box, dst, buf []byte, alert, into bool) ([]byte, error) {
	var plain []byte
	var err error
	if into {
		plain, err = k.Enc.Open(dst[:0], box, blobAD(loc.Type, loc.Codec, id))
	} else {
		plain, err = k.Enc.OpenInPlace(box, blobAD(loc.Type, loc.Codec, id))
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s in pack %s: %w", id.Short(), loc.Pack.Short(), err)
	}
	out := plain
	if loc.Codec != codec.None {
		if out, err = codec.Decompress(buf[:0], plain, loc.Codec, int(loc.Raw)); err != nil {
			return nil, fmt.Errorf("blob %s: %w", id.Short(), err)
		}
	}
	if len(out) != int(loc.Raw) {
		return nil, fmt.Errorf("blob %s has %d bytes, index says %d: %w", id.Short(), len(out), loc.Raw, errFormat)
	}
	// The keyed ID binds the plaintext: whoever wrote the box, only the
	// bytes the home stored under this ID are accepted.
	if d.BlobID(out) != id {
		if !alert {
			return nil, fmt.Errorf("blob %s: plaintext does not match its keyed id: %w", id.Short(), seal.ErrAuth)
		}
		name := "?"
		if s != nil {
			name = s.Name
		}
		d.r.alert(ctx, Alert{Site: name, Attack: AttackSubstitution, Object: d.PackHandle(loc.Pack).String(),
			Detail: fmt.Sprintf("blob %s decrypts to bytes that do not hash to its id", id.Short())})
		return nil, fmt.Errorf("blob %s: plaintext does not match its keyed id: %w", id.Short(), seal.ErrAuth)
	}
	return out, nil
}

// LoadBlobs calls fn with the plaintext of each blob of ids, in order, as
// LoadBlob would return it. Neighbours stored back to back in one pack (a
// file's chunks usually are) are fetched with one read of their whole
// range, up to maxMergedRead bytes, instead of one read each; every blob is
// still authenticated on its own. A merged read that fails at every site,
// or a blob in it that does not open, is read again alone by LoadBlob,
// with its per-site fallback and alerts. The plaintext passed to fn is
// only valid during the call. buf is reused for decompression and
// returned, possibly grown, for the next call.
func (d *Dataset) LoadBlobs(ctx context.Context, ids []ID, buf []byte, fn func(plain []byte) error) ([]byte, error) {
	return d.loadBlobs(ctx, ids, func(j int) (BlobLoc, bool) { return d.Idx.Lookup(ids[j]) }, buf,
		func(_ int, b []byte) error { return fn(b) })
}

// LoadBlobSet is LoadBlobs for blobs wanted in no particular order (the
// contents of many small files): it calls fn(i, plaintext of ids[i]) for
// each i, in the order the blobs lie in their packs, so that neighbours
// are fetched with one read however the caller listed them. A blob the
// index does not hold comes last (its error is LoadBlob's). On an error,
// failed is the index in ids of the blob being loaded (or handed to fn);
// the blobs fn has not been given are not loaded.
func (d *Dataset) LoadBlobSet(ctx context.Context, ids []ID, buf []byte, fn func(i int, plain []byte) error) (_ []byte, failed int, _ error) {
	type entry struct {
		i   int
		loc BlobLoc
		ok  bool
	}
	es := make([]entry, len(ids))
	for i, id := range ids {
		loc, ok := d.Idx.Lookup(id)
		es[i] = entry{i, loc, ok}
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if a.ok != b.ok {
			if a.ok {
				return -1
			}
			return 1
		}
		if c := bytes.Compare(a.loc.Pack[:], b.loc.Pack[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.loc.Offset, b.loc.Offset)
	})
	sorted := make([]ID, len(es))
	for k, e := range es {
		sorted[k] = ids[e.i]
	}
	done := 0
	buf, err := d.loadBlobs(ctx, sorted, func(k int) (BlobLoc, bool) { return es[k].loc, es[k].ok }, buf,
		func(k int, b []byte) error {
			if err := fn(es[k].i, b); err != nil {
				return err
			}
			done = k + 1
			return nil
		})
	if err != nil {
		return buf, es[done].i, err
	}
	return buf, -1, nil
}

// loadBlobs is LoadBlobs with the index lookup of ids[j] done by lookup,
// and fn told the position in ids of the blob it is given.
func (d *Dataset) loadBlobs(ctx context.Context, ids []ID, lookup func(j int) (BlobLoc, bool), buf []byte, fn func(j int, plain []byte) error) ([]byte, error) {
	locs := make([]BlobLoc, 0, min(len(ids), 64))
	var box *[]byte // LoadBlob's box buffer (readBufs), once needed
	for i := 0; i < len(ids); {
		// The run [i, j) of blobs contiguous in one pack.
		locs = locs[:0]
		j := i
		var start, end int64
		for ; j < len(ids); j++ {
			loc, ok := lookup(j)
			if !ok {
				break
			}
			off, n := int64(loc.Offset), int64(loc.Length)
			if j > i && (loc.Pack != locs[0].Pack || off != end || end+n-start > maxMergedRead) {
				break
			}
			if j == i {
				start = off
			}
			end = off + n
			locs = append(locs, loc)
		}
		if d.ReadAhead > 0 || j == i {
			// A missing blob (LoadBlob names it), or remote sites read
			// through the read-ahead windows, each box copied into one
			// pooled buffer (the plaintext passed to fn dies with the call).
			j = max(j, i+1)
			if box == nil {
				box = readBufs.Get().(*[]byte)
				defer readBufs.Put(box)
			}
			for ; i < j; i++ {
				b, nb, inBuf, err := d.loadBlob(ctx, ids[i], buf, (*box)[:0])
				*box = nb
				if err != nil {
					return buf, err
				}
				// An uncompressed plaintext is the box itself: never adopt
				// it as buf, which the next blob decompresses into.
				if inBuf && cap(b) > cap(buf) {
					buf = b[:0]
				}
				if err := fn(i, b); err != nil {
					return buf, err
				}
			}
			continue
		}
		var err error
		base := i
		if buf, err = d.loadRun(ctx, ids[i:j], locs, start, end, buf, func(k int, b []byte) error { return fn(base+k, b) }); err != nil {
			return buf, err
		}
		i = j
	}
	return buf, nil
}

// loadRun reads the run of blobs ids (at locs, back to back in one pack
// from start to end) with one read and hands their plaintexts to fn.
func (d *Dataset) loadRun(ctx context.Context, ids []ID, locs []BlobLoc, start, end int64, buf []byte, fn func(k int, plain []byte) error) ([]byte, error) {
	rb := getReadBuf(int(end - start))
	defer readBufs.Put(rb)
	var data []byte
	var from *Site
	err := d.r.readFirstInto(ctx, d.PackHandle(locs[0].Pack), start, (*rb)[:end-start], func(s *Site, b []byte) error {
		data, from = b, s
		return nil
	})
	for i, id := range ids {
		var out []byte
		ok := false
		if err == nil {
			loc := locs[i]
			k, kerr := d.Keys.Key(loc.KeyVersion)
			if kerr != nil {
				return buf, kerr
			}
			off := int64(loc.Offset) - start
			var oerr error
			out, oerr = d.openBox(ctx, from, k, id, loc, data[off:off+int64(loc.Length)], buf, false)
			ok = oerr == nil
		}
		if !ok {
			// The merged read failed, or this blob did not open from it:
			// read it alone, trying every site (and alerting, once, on a
			// substitute).
			var lerr error
			if out, lerr = d.LoadBlob(ctx, id, buf); lerr != nil {
				return buf, lerr
			}
		}
		if locs[i].Codec != codec.None && cap(out) > cap(buf) {
			buf = out[:0]
		}
		if ferr := fn(i, out); ferr != nil {
			return buf, ferr
		}
	}
	return buf, nil
}
