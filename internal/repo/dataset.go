package repo

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/seal"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/zeebo/blake3"
)

// MaxBlobSize bounds a blob's plaintext (the chunker's maximum and the
// largest tree accepted).
const MaxBlobSize = 64 << 20

// Dataset is an open dataset: its keys and its loaded index.
type Dataset struct {
	r    *Repo
	Keys *DatasetKeys
	Idx  *Index

	hashers sync.Pool

	// badIndexes are index objects no site returned authentic (LoadIndex).
	badIndexes map[ID]error

	// ReadAhead, when positive, makes LoadBlob read this many bytes of a
	// pack at a time and serve the following blobs from that window: far
	// fewer requests to remote sites, whose blobs of one file usually sit
	// next to each other. Zero reads exactly each blob (best for local disks).
	ReadAhead int
	winMu     sync.Mutex
	wins      []*packWindow
}

// packWindow is a byte range of a pack read ahead.
type packWindow struct {
	pack ID
	off  int64
	data []byte
	buf  *[]byte // data's pooled buffer (readBufs)
	// refs counts the uses fromWindow began and releaseWindow has not
	// ended; an evicted window's buffer goes back to the pool at zero.
	refs    int
	evicted bool
	ready   chan struct{} // closed once data is read, or err set
	err     error
}

// maxWindows bounds the read-ahead cache (memory: maxWindows × ReadAhead).
const maxWindows = 8

// OpenDataset loads the dataset's index from the sites.
func (r *Repo) OpenDataset(ctx context.Context, k *DatasetKeys) (*Dataset, error) {
	d := &Dataset{r: r, Keys: k, Idx: newIndex()}
	if err := d.LoadIndex(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Repo returns the repository.
func (d *Dataset) Repo() *Repo { return d.r }

func packHandle(dsid string, id ID) site.Handle {
	s := id.String()
	return site.Handle{Kind: site.KindPack, Name: dsid + "/" + s[:2] + "/" + s}
}

func indexHandle(dsid string, id ID) site.Handle {
	return site.Handle{Kind: site.KindIndex, Name: dsid + "/" + id.String()}
}

func snapshotHandle(dsid string, id ID) site.Handle {
	return site.Handle{Kind: site.KindSnapshot, Name: dsid + "/" + id.String()}
}

// parseObjectName returns the ID of an object name "<dsid>/[xx/]<id>" of this dataset.
func parseObjectName(dsid, name string) (ID, bool) {
	if !strings.HasPrefix(name, dsid+"/") {
		return ID{}, false
	}
	rest := name[len(dsid)+1:]
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		rest = rest[i+1:]
	}
	id, err := ParseID(rest)
	return id, err == nil
}

// PackHandle is the handle of a pack of this dataset.
func (d *Dataset) PackHandle(id ID) site.Handle { return packHandle(d.Keys.ID, id) }

// IndexHandle is the handle of an index object of this dataset.
func (d *Dataset) IndexHandle(id ID) site.Handle { return indexHandle(d.Keys.ID, id) }

// SnapshotHandle is the handle of a snapshot manifest of this dataset.
func (d *Dataset) SnapshotHandle(id ID) site.Handle { return snapshotHandle(d.Keys.ID, id) }

// openIndexObject authenticates and decodes an index object.
func (d *Dataset) openIndexObject(id ID, b []byte) (*IndexFile, error) {
	if Hash(b) != id {
		return nil, fmt.Errorf("index %s: content does not match its name: %w %w", id.Short(), seal.ErrAuth, errNameMismatch)
	}
	ver, err := objectKeyVersion(b, objIndex)
	if err != nil {
		return nil, err
	}
	k, err := d.Keys.Key(ver)
	if err != nil {
		return nil, err
	}
	plain, err := openObject(k.Enc, objIndex, d.Keys.ID, b)
	if err != nil {
		return nil, err
	}
	f, err := DecodeIndex(plain)
	if err != nil {
		return nil, err
	}
	if f.Epoch != 0 {
		pub, err := d.r.signKeyBytes(f.Epoch)
		if err != nil || !f.verify(d.Keys.ID, pub) {
			return nil, fmt.Errorf("index %s is not signed by the home's key of epoch %d: %w", id.Short(), f.Epoch, ErrSignature)
		}
	}
	f.Body = nil // verified: the plaintext can go
	return f, nil
}

func (d *Dataset) hasher(k *DataKey) *blake3.Hasher {
	if h, ok := d.hashers.Get().(*blake3.Hasher); ok {
		return h
	}
	h, err := blake3.NewKeyed(k.IDKey[:])
	if err != nil {
		panic(err)
	}
	return h
}

// BlobID computes the keyed ID of a plaintext blob.
func (d *Dataset) BlobID(plain []byte) ID {
	k := d.Keys.CurrentKey()
	h := d.hasher(k)
	h.Reset()
	h.Write(plain)
	var id ID
	h.Sum(id[:0])
	d.hashers.Put(h)
	return id
}

// ErrBlobMissing means the index does not know a blob a tree refers to.
var ErrBlobMissing = errors.New("blob not in index")

// Locate returns where the index holds blob id, or an error naming the
// blob (ErrBlobMissing, with the way out when the home's index cache was
// found changed on disk).
func (d *Dataset) Locate(id ID) (BlobLoc, error) {
	loc, ok := d.Idx.Lookup(id)
	if ok {
		return loc, nil
	}
	if err := d.Idx.Broken(); err != nil {
		return loc, hint.Wrap(fmt.Errorf("blob %s: %w (%w)", id.Short(), ErrBlobMissing, err),
			"the home's index cache was changed on disk and has been discarded; run the command again to rebuild it from the signed index objects")
	}
	return loc, fmt.Errorf("blob %s: %w", id.Short(), ErrBlobMissing)
}

// LoadBlob returns the plaintext of blob id, trying each site until one
// returns an authentic copy. buf is reused if large enough.
func (d *Dataset) LoadBlob(ctx context.Context, id ID, buf []byte) ([]byte, error) {
	out, _, _, err := d.loadBlob(ctx, id, buf, nil)
	return out, err
}

// loadBlob is LoadBlob with box, a buffer a blob read from a read-ahead
// window is decrypted into (returned, possibly grown, for the next call):
// an uncompressed blob's plaintext, out, may then share box's memory;
// inBuf reports that out was decompressed into buf (possibly grown).
func (d *Dataset) loadBlob(ctx context.Context, id ID, buf, box []byte) (out, boxOut []byte, inBuf bool, err error) {
	loc, err := d.Locate(id)
	if err != nil {
		return nil, box, false, err
	}
	k, err := d.Keys.Key(loc.KeyVersion)
	if err != nil {
		return nil, box, false, err
	}
	if d.ReadAhead > 0 {
		// From a read-ahead window: decrypted straight out of it into box
		// (a copy of the box first was a third of the window's cost).
		// A box across two windows is copied together into box and
		// decrypted there in place.
		var b []byte
		var w *packWindow
		if b, box, w = d.fromWindow(ctx, loc, box); b != nil {
			if w != nil {
				if cap(box) < len(b) {
					box = make([]byte, 0, len(b))
				}
				out, err = d.openBoxInto(ctx, nil, k, id, loc, b, box, buf, true, true)
				d.releaseWindow(w)
			} else {
				out, err = d.openBoxInto(ctx, nil, k, id, loc, b, nil, buf, true, false)
			}
			if err == nil {
				return out, box, loc.Codec != codec.None, nil
			}
		}
		// No window, or a damaged one: read exactly, with the per-site fallback.
	}
	open := func(s *Site, b []byte) error {
		var err error
		out, err = d.openBox(ctx, s, k, id, loc, b, buf, true)
		return err
	}
	err = d.r.readFirst(ctx, d.PackHandle(loc.Pack), int64(loc.Offset), int64(loc.Length), open)
	return out, box, loc.Codec != codec.None, err
}

// fromWindow returns loc's box from the read-ahead windows, reading the
// windows it lies in from the first site that has them when needed; nil
// when that fails. A box inside one window is returned in it, with the
// window, which stays valid (its buffer is not reused) until
// releaseWindow; a box across windows is copied together into box (grown
// when too small, and returned) and w is nil.
//
// Windows are the pack's tiles of ReadAhead bytes, rounded up to the
// site's read unit (an erasure group's stripe), so no two hold the same
// bytes and none begins or ends inside a stripe. Windows that started at
// the blob that did not fit the one before held half their bytes twice,
// and each began and ended inside stripes their neighbours fetched too: a
// restore of the 2 GiB corpus through a 2+1 group sent 1.3 GiB per GiB
// restored where the data shards are 0.72 (bench/README.md, round seven).
// Windows live in pooled buffers, given back once evicted and released: a
// fresh 4 MiB buffer per window was zeroed and page-faulted in on every
// read.
func (d *Dataset) fromWindow(ctx context.Context, loc BlobLoc, box []byte) (b, boxOut []byte, w *packWindow) {
	off, n := int64(loc.Offset), int64(loc.Length)
	size := d.Idx.PackSize(loc.Pack)
	if n <= 0 || off+n > size {
		return nil, box, nil
	}
	// A read unit far above ReadAhead (a wide group's stripe) would make
	// every window that large: memory goes first, those are not aligned.
	tile := int64(d.ReadAhead)
	if a := d.r.readAlign(); a > 0 && a <= 2*tile {
		tile = (tile + a - 1) / a * a
	}
	first, last := off/tile, (off+n-1)/tile
	if first == last {
		if w = d.window(ctx, loc.Pack, first*tile, min(size, (first+1)*tile)); w == nil {
			return nil, box, nil
		}
		return w.data[off-w.off : off-w.off+n], box, w
	}
	if int64(cap(box)) < n {
		box = make([]byte, 0, n)
	}
	b = box[:n]
	for t := first; t <= last; t++ {
		tw := d.window(ctx, loc.Pack, t*tile, min(size, (t+1)*tile))
		if tw == nil {
			return nil, box, nil
		}
		lo, hi := max(off, tw.off), min(off+n, tw.off+int64(len(tw.data)))
		copy(b[lo-off:hi-off], tw.data[lo-tw.off:hi-tw.off])
		d.releaseWindow(tw)
	}
	return b, box, nil
}

// window returns the window [start, end) of pack, with a reference taken
// (releaseWindow ends it), reading it from the first site that has it
// when it is not listed; nil when that fails. A window is listed while it
// is read, and a reader that needs it meanwhile waits for it: the
// restore's workers read the neighbouring files of one pack at the same
// time, and each fetched the window for itself.
func (d *Dataset) window(ctx context.Context, pack ID, start, end int64) *packWindow {
	var rb *[]byte
	for {
		d.winMu.Lock()
		if w := d.windowAt(pack, start); w != nil {
			w.refs++
			d.winMu.Unlock()
			if rb != nil {
				readBufs.Put(rb)
			}
			if !w.wait(ctx) {
				d.releaseWindow(w)
				return nil
			}
			return w
		}
		if rb != nil {
			break // still missing, with the lock held
		}
		// The buffer is taken without the lock; another reader may list
		// the window meanwhile, so look again.
		d.winMu.Unlock()
		rb = getReadBuf(int(end - start))
	}
	w := &packWindow{pack: pack, off: start, data: *rb, buf: rb, refs: 1, ready: make(chan struct{})}
	if len(d.wins) >= maxWindows {
		old := d.wins[0]
		d.wins = d.wins[1:]
		if old.evicted = true; old.refs == 0 {
			readBufs.Put(old.buf)
		}
	}
	d.wins = append(d.wins, w)
	d.winMu.Unlock()

	err := d.r.readFirstInto(ctx, d.PackHandle(pack), start, w.data, func(*Site, []byte) error { return nil })
	d.winMu.Lock()
	if err != nil {
		w.err = err
		if i := slices.Index(d.wins, w); i >= 0 {
			d.wins = slices.Delete(d.wins, i, i+1)
		}
		w.evicted = true
	}
	close(w.ready)
	d.winMu.Unlock()
	if err != nil {
		d.releaseWindow(w)
		return nil
	}
	return w
}

// windowAt returns the listed window of pack starting at off, or nil;
// d.winMu must be held.
func (d *Dataset) windowAt(pack ID, off int64) *packWindow {
	for _, w := range d.wins {
		if w.pack == pack && w.off == off {
			return w
		}
	}
	return nil
}

// wait reports, once w is read, whether that succeeded; false when ctx
// ends first.
func (w *packWindow) wait(ctx context.Context) bool {
	select {
	case <-w.ready:
		return w.err == nil
	case <-ctx.Done():
		return false
	}
}

// releaseWindow ends a use of w that fromWindow began.
func (d *Dataset) releaseWindow(w *packWindow) {
	d.winMu.Lock()
	defer d.winMu.Unlock()
	if w.refs--; w.refs == 0 && w.evicted {
		readBufs.Put(w.buf)
	}
}

// LoadTree loads and decodes a tree blob.
func (d *Dataset) LoadTree(ctx context.Context, id ID) (*Tree, error) {
	b, err := d.LoadBlob(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	return DecodeTree(b)
}

// Snapshots lists the dataset's snapshots, oldest first: exactly the live
// manifests of the home's signed state. A manifest a site lists that the
// state does not (forged, replayed from an old epoch, or forgotten and put
// back) is never returned and raises an alert; one the state lists that no
// site returns authentic is in bad, by name.
func (d *Dataset) Snapshots(ctx context.Context) (good []*Snapshot, bad map[ID]error, err error) {
	st := d.r.curState()
	sd := st.Dataset(d.Keys.ID)
	var ids []ID
	seen := map[ID]bool{}
	type unlistedObj struct {
		s  *Site
		h  site.Handle
		id ID
	}
	var unlisted []unlistedObj
	err = d.r.listUnionSites(ctx, site.KindSnapshot, func(s *Site, fi site.Info) error {
		id, ok := parseObjectName(d.Keys.ID, fi.Handle.Name)
		if !ok {
			return nil
		}
		if st != nil && (sd == nil || !sd.Has(id)) {
			if sd != nil && sd.IsForgetting(id) {
				d.r.log.InfoContext(ctx, "manifest of an interrupted forget ignored (the next forget deletes it)", "site", s.Name, "object", fi.Handle.String())
			} else if sd != nil && sd.WasForgotten(id) {
				d.r.alert(ctx, Alert{Site: s.Name, Attack: AttackResurrectedSnap, Object: fi.Handle.String(), Detail: "a manifest the home forgot (signed tombstone); it is ignored"})
			} else {
				unlisted = append(unlisted, unlistedObj{s, fi.Handle, id})
			}
			return nil
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for i, u := range unlisted {
		if i >= maxClassify {
			d.r.alert(ctx, Alert{Site: u.s.Name, Attack: AttackUnlistedSnap, Object: u.h.String(), Detail: "one of many manifests the home's signed state does not list; ignored"})
			continue
		}
		// A manifest signed by the current epoch that the state neither
		// lists nor forgot can only be the home's own interrupted snapshot
		// (written, never committed): ignored quietly. Anything else, such
		// as a retired epoch's signature, is not the home's.
		if s, err := d.loadFrom(ctx, u.s, u.id); err == nil && s.Epoch == d.r.current {
			d.r.log.InfoContext(ctx, "uncommitted manifest ignored (an interrupted snapshot)", "site", u.s.Name, "object", u.h.String())
			continue
		}
		d.r.alert(ctx, Alert{Site: u.s.Name, Attack: AttackUnlistedSnap, Object: u.h.String(), Detail: "a manifest the home's signed state does not list; it is ignored"})
	}
	bad = map[ID]error{}
	if sd != nil {
		for _, id := range sd.Snapshots {
			if !seen[id] {
				bad[id] = fmt.Errorf("manifest %s is listed in the home's signed state but missing at every site: %w", id.Short(), site.ErrNotFound)
				// Every site that holds manifests withholds this one.
				for _, s := range d.r.orderedSites() {
					if s.usable() && s.holds(site.KindSnapshot) {
						d.r.alert(ctx, Alert{Site: s.Name, Attack: AttackMissingSnap, Object: d.SnapshotHandle(id).String(), Detail: "no site returns a manifest the home's signed state lists"})
					}
				}
			}
		}
	}
	// The manifests load on a few goroutines: a history of hundreds is
	// hundreds of GETs (and signature checks) for every command that
	// lists it (bench/README.md, round eight).
	loaded := make([]*Snapshot, len(ids))
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(manifestLoaders, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				loaded[i], errs[i] = d.LoadSnapshot(ctx, ids[i])
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, id := range ids {
		if errs[i] != nil {
			bad[id] = errs[i]
			continue
		}
		good = append(good, loaded[i])
	}
	sort.Slice(good, func(i, j int) bool { return good[i].Time.Before(good[j].Time) })
	return good, bad, nil
}

// manifestLoaders is how many manifests Snapshots loads at once.
const manifestLoaders = 8

// errNameMismatch marks an object whose bytes do not hash to its name.
var errNameMismatch = errors.New("content does not match name")

// BadIndexes returns the index objects that no site returned authentic at
// the last LoadIndex: ignored, reported by verify, and a reason for prune
// to refuse.
func (d *Dataset) BadIndexes() map[ID]error {
	out := map[ID]error{}
	for k, v := range d.badIndexes {
		out[k] = v
	}
	return out
}

// Head returns the dataset's signed head, if the vault has signed state.
func (d *Dataset) Head() (Head, bool) {
	sd := d.r.curState().Dataset(d.Keys.ID)
	if sd == nil {
		return Head{}, false
	}
	return sd.Head, true
}

// LoadSnapshot loads and verifies one manifest.
func (d *Dataset) LoadSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	var snap *Snapshot
	err := d.r.readFirst(ctx, d.SnapshotHandle(id), 0, 0, func(_ *Site, b []byte) error {
		var err error
		snap, err = d.openSnapshot(id, b)
		return err
	})
	return snap, err
}

// loadFrom loads and verifies one manifest from site s only.
func (d *Dataset) loadFrom(ctx context.Context, s *Site, id ID) (*Snapshot, error) {
	b, err := ReadObject(ctx, s.Backend, d.SnapshotHandle(id))
	if err != nil {
		return nil, err
	}
	return d.openSnapshot(id, b)
}

func (d *Dataset) openSnapshot(id ID, b []byte) (*Snapshot, error) {
	if Hash(b) != id {
		return nil, fmt.Errorf("snapshot %s: content does not match its name: %w", id.Short(), seal.ErrAuth)
	}
	ver, err := objectKeyVersion(b, objSnapshot)
	if err != nil {
		return nil, err
	}
	k, err := d.Keys.Key(ver)
	if err != nil {
		return nil, err
	}
	plain, err := openObject(k.Enc, objSnapshot, d.Keys.ID, b)
	if err != nil {
		return nil, err
	}
	s, epoch, err := decodeManifest(plain, d.r.signKey)
	if err != nil {
		return nil, err
	}
	if s.Home != d.r.home || s.DatasetID != d.Keys.ID {
		return nil, fmt.Errorf("snapshot %s belongs to home %s dataset %s: %w", id.Short(), s.Home, s.DatasetID, ErrForeignHome)
	}
	s.ID, s.Epoch = id, epoch
	return s, nil
}

func (r *Repo) signKey(epoch uint32) (ed25519.PublicKey, error) {
	ep, ok := r.epochs[epoch]
	if !ok {
		return nil, fmt.Errorf("unknown key epoch %d: %w", epoch, ErrSignature)
	}
	return ep.sign, nil
}

// FindSnapshot resolves "latest", a full ID or a unique ID prefix.
func (d *Dataset) FindSnapshot(ctx context.Context, ref string) (*Snapshot, error) {
	snaps, bad, err := d.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	// A damaged manifest the reference names is reported as damaged, not
	// as unknown.
	damaged := func(match func(ID) bool) error {
		for id, e := range bad {
			if match(id) {
				return hint.WithCode(hint.Wrap(fmt.Errorf("snapshot %s of dataset %s is damaged at every site: %w", id.Short(), d.Keys.Name, e),
					"run 'embassy verify' for details; the dataset's other snapshots are listed by 'embassy snapshots "+d.Keys.Name+"'"), hint.CodeDamaged)
			}
		}
		return nil
	}
	if len(snaps) == 0 {
		if err := damaged(func(ID) bool { return true }); err != nil {
			return nil, err
		}
		return nil, hint.Wrap(fmt.Errorf("dataset %s has no snapshots", d.Keys.Name), "take one with 'embassy snapshot "+d.Keys.Name+" PATH'")
	}
	if ref == "" || ref == "latest" {
		if h, ok := d.Head(); ok && h.Latest != nil {
			if e, missing := bad[*h.Latest]; missing {
				return nil, hint.WithCode(hint.Wrap(fmt.Errorf("the latest snapshot %s of dataset %s (signed head %d) cannot be read at any site: %w", h.Latest.Short(), d.Keys.Name, h.Seq, e),
					"a site is withholding or has lost it: run 'embassy verify' and 'embassy repair', or name an older snapshot explicitly"), hint.CodeDamaged)
			}
		}
		return snaps[len(snaps)-1], nil
	}
	var found *Snapshot
	for _, s := range snaps {
		if strings.HasPrefix(s.ID.String(), strings.ToLower(ref)) {
			if found != nil {
				return nil, hint.WithCode(hint.Wrap(fmt.Errorf("snapshot prefix %q is ambiguous", ref), "give more digits of the ID"), hint.CodeUsage)
			}
			found = s
		}
	}
	if found == nil {
		if err := damaged(func(id ID) bool { return strings.HasPrefix(id.String(), strings.ToLower(ref)) }); err != nil {
			return nil, err
		}
		return nil, hint.Wrap(fmt.Errorf("no snapshot %q in dataset %s", ref, d.Keys.Name), "list them with 'embassy snapshots "+d.Keys.Name+"'")
	}
	return found, nil
}
