package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/seal"
	"github.com/digital-embassy/embassy/internal/site"
)

// indexLoadBytes bounds the index objects being loaded at once by their
// size: loading one holds several copies of it (sealed, decrypted,
// decompressed, the signed message twice), about 5x its size. Small
// objects load 8 at a time; a vault of 10 million blobs has objects of
// 65 MB, which then load one at a time. (Measured there: peak RSS 1.68 GB
// either way, as the peak comes after loading: the index itself, 1.18 GB,
// and the collector's headroom. This bounds the transient for vaults with
// more, larger objects.)
const indexLoadBytes = 64 << 20

// loadAdmission lets at most n loads run, and more than one only while
// their sizes sum to at most bytes.
type loadAdmission struct {
	mu       sync.Mutex
	cond     *sync.Cond
	max      int
	bytes    int64
	running  int
	inflight int64
}

func newLoadAdmission(n int, bytes int64) *loadAdmission {
	a := &loadAdmission{max: n, bytes: bytes}
	a.cond = sync.NewCond(&a.mu)
	return a
}

// acquire waits until a load of size n may start. A size a site reported
// wrongly only changes the order loads run in.
func (a *loadAdmission) acquire(n int64) {
	n = max(n, 0)
	a.mu.Lock()
	for a.running > 0 && (a.running >= a.max || a.inflight+n > a.bytes) {
		a.cond.Wait()
	}
	a.running++
	a.inflight += n
	a.mu.Unlock()
}

func (a *loadAdmission) release(n int64) {
	n = max(n, 0)
	a.mu.Lock()
	a.running--
	a.inflight -= n
	a.cond.Broadcast()
	a.mu.Unlock()
}

// DiskIndexMin is the total size of a dataset's index objects from which
// LoadIndex keeps the blob locations in the home's cache file instead of
// memory (about 46 bytes a blob: 32 MiB is some 730,000 blobs, 70 MB of
// map). Below it the map is faster and small enough.
var DiskIndexMin int64 = 32 << 20

// overlayMax bounds the blobs of index objects added since the cache file
// was built that LoadIndex keeps in memory instead of rebuilding the file:
// an eighth of the file, at least this many.
const overlayMax = 1 << 18

// cacheLoadBytes bounds the index objects loading at once while the cache
// file is built (the run buffer holds another 32 MiB).
const cacheLoadBytes = 16 << 20

// testCacheDir is the cache folder of repositories opened without one, set
// only by tests (EMBASSY_TEST_DISK_INDEX=1 runs every test on the cache).
var testCacheDir string

// CachePath is the home-local index cache file of dataset dsid, or "" when
// the repository has no cache folder.
func (r *Repo) CachePath(dsid string) string {
	dir := r.opts.CacheDir
	if dir == "" {
		dir = testCacheDir
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "index", dsid+".idx")
}

// LoadIndex reads the dataset's index objects from the sites, honouring
// supersession by prune. A large dataset's blob locations go to the home's
// cache file, which LoadIndex checks against the index objects the sites
// list and rebuilds (from the objects, never trusting the file over them)
// when it does not match or does not authenticate.
func (d *Dataset) LoadIndex(ctx context.Context) error {
	var ids []ID
	sizes := map[ID]int64{}
	err := d.r.listUnion(ctx, site.KindIndex, func(fi site.Info) error {
		if id, ok := parseObjectName(d.Keys.ID, fi.Handle.Name); ok {
			if _, dup := sizes[id]; !dup {
				ids = append(ids, id)
			}
			sizes[id] = max(sizes[id], fi.Size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.badIndexes = map[ID]error{}
	var total int64
	for _, n := range sizes {
		total += n
	}
	if path := d.r.CachePath(d.Keys.ID); path != "" && total >= DiskIndexMin {
		return d.loadDiskIndex(ctx, path, ids, sizes)
	}
	files := make(map[ID]*IndexFile, len(ids))
	if err := d.fetchIndexes(ctx, ids, sizes, func(id ID, f *IndexFile) error { files[id] = f; return nil }); err != nil {
		return err
	}
	d.Idx = d.memIndex(ctx, files, nil)
	return nil
}

// memIndex builds the in-memory index of files, leaving out those a signed
// index supersedes (also those of cached, the metadata of a cache file).
func (d *Dataset) memIndex(ctx context.Context, files map[ID]*IndexFile, base *diskIndex) *Index {
	superseded := map[ID]bool{}
	metas := make([]cachedFile, 0, len(files))
	for id, f := range files {
		metas = append(metas, cachedFile{id: id, epoch: f.Epoch, supersedes: f.Supersedes})
	}
	if base != nil {
		metas = append(metas, base.meta.files...)
	}
	for _, f := range metas {
		if len(f.supersedes) > 0 && f.epoch == 0 {
			// Only an index the home signed may retire others.
			d.r.alert(ctx, Alert{Site: "*", Attack: AttackUnsignedIndex, Object: d.IndexHandle(f.id).String(),
				Detail: "an unsigned index claims to supersede others; its claim is ignored"})
			continue
		}
		for _, s := range f.supersedes {
			superseded[s] = true
		}
	}
	x := newIndex()
	if base != nil {
		x = newDiskBackedIndex(base)
		for _, f := range base.meta.files {
			if f.live {
				x.files[f.id] = &IndexFile{Epoch: f.epoch, Supersedes: f.supersedes}
			}
		}
	}
	for id, f := range files {
		if superseded[id] {
			continue
		}
		for _, p := range f.Packs {
			x.addPack(p)
			if base != nil {
				for _, e := range p.Entries {
					if l, ok := base.lookup(e.ID); ok && x.expand(l) != (BlobLoc{Pack: p.ID, KeyVersion: p.KeyVersion, Type: e.Type, Codec: e.Codec, Offset: e.Offset, Length: e.Length, Raw: e.Raw}) {
						x.dups++
					}
				}
			}
		}
		x.addFile(id, f)
	}
	if n := x.Duplicates(); n > 0 {
		d.r.log.InfoContext(ctx, "blobs listed at more than one location; the lowest pack id is used", "dataset", d.Keys.Name, "blobs", n)
	}
	return x
}

// loadDiskIndex opens the dataset's cache file if it matches the listed
// index objects, keeping in memory the blobs of the few added since, and
// rebuilds it otherwise.
func (d *Dataset) loadDiskIndex(ctx context.Context, path string, ids []ID, sizes map[ID]int64) error {
	key := cacheKey(d.Keys)
	listed := make(map[ID]bool, len(ids))
	for _, id := range ids {
		listed[id] = true
	}
	c, err := openDiskIndex(path, key, d.Keys.ID)
	if c != nil {
		c.log = d.r.log
	}
	var base *diskIndex
	switch {
	case err == nil:
		x, why, merge, err := d.overlay(ctx, c, ids, sizes, listed)
		switch {
		case err != nil:
			c.close()
			return err
		case x != nil:
			d.Idx = x
			return nil
		case merge:
			base = c
			d.r.log.InfoContext(ctx, "merging index objects into the index cache", "dataset", d.Keys.Name, "reason", why)
		default:
			c.close()
			d.r.log.InfoContext(ctx, "rebuilding the index cache", "dataset", d.Keys.Name, "reason", why)
		}
	case errors.Is(err, os.ErrNotExist):
		d.r.log.InfoContext(ctx, "building the index cache", "dataset", d.Keys.Name, "file", path)
	default:
		d.r.log.WarnContext(ctx, "index cache not usable; rebuilding it from the index objects", "dataset", d.Keys.Name, "file", path, "err", err)
	}
	b, err := newCacheBuilder(path, key, d.Keys.ID)
	if err == nil {
		fetch := ids
		if base != nil {
			defer base.close()
			b.addCache(base)
			fetch = nil
			covered := make(map[ID]bool, len(base.meta.files))
			for _, f := range base.meta.files {
				covered[f.id] = true
			}
			for _, id := range ids {
				if !covered[id] {
					fetch = append(fetch, id)
				}
			}
		}
		var addErr error
		// Bounded memory: loading an object holds about five copies of
		// it, beside the builder's run of records.
		err = d.fetchIndexesWithin(ctx, fetch, sizes, cacheLoadBytes, func(id ID, f *IndexFile) error {
			if addErr == nil {
				addErr = b.add(id, f)
			}
			return nil
		})
		if err != nil {
			b.abort()
			return err
		}
		if err = addErr; err == nil {
			err = b.finish()
		} else {
			b.abort()
		}
	}
	if err == nil {
		if c, err = openDiskIndex(path, key, d.Keys.ID); err == nil {
			c.log = d.r.log
			d.Idx = d.memIndex(ctx, nil, c)
			return nil
		}
	}
	// No cache (a full or read-only home): everything in memory.
	d.r.log.WarnContext(ctx, "index cache could not be written; the index is kept in memory", "dataset", d.Keys.Name, "file", path, "err", err)
	d.badIndexes = map[ID]error{}
	files := make(map[ID]*IndexFile, len(ids))
	if err := d.fetchIndexes(ctx, ids, sizes, func(id ID, f *IndexFile) error { files[id] = f; return nil }); err != nil {
		return err
	}
	d.Idx = d.memIndex(ctx, files, nil)
	return nil
}

// overlay returns the index of cache file c and the index objects listed
// since it was built, or nil, why c must be rebuilt and whether the new
// objects can be merged into it (else it is built again from all).
func (d *Dataset) overlay(ctx context.Context, c *diskIndex, ids []ID, sizes map[ID]int64, listed map[ID]bool) (*Index, string, bool, error) {
	covered := make(map[ID]bool, len(c.meta.files))
	for _, f := range c.meta.files {
		covered[f.id] = true
		if f.live && !listed[f.id] {
			return nil, "index object " + f.id.Short() + " it was built from is no longer listed", false, nil
		}
	}
	var fresh []ID
	var freshBytes int64
	for _, id := range ids {
		if !covered[id] {
			fresh = append(fresh, id)
			freshBytes += sizes[id]
		}
	}
	if limit := max(int64(overlayMax), int64(c.meta.n/8)) * packEntryLen; freshBytes > limit || len(fresh) > overlayObjects {
		// Merged only if none of them supersedes a live object of c:
		// their supersedes lists are read first.
		for _, id := range fresh {
			if sup, err := d.supersedesOf(ctx, id); err == nil && supersedesLive(c, sup) {
				return nil, "index object " + id.Short() + " supersedes some it was built from", false, nil
			}
		}
		return nil, fmt.Sprintf("%d index objects (%d bytes) were added since it was built", len(fresh), freshBytes), true, nil
	}
	files := make(map[ID]*IndexFile, len(fresh))
	if err := d.fetchIndexes(ctx, fresh, sizes, func(id ID, f *IndexFile) error { files[id] = f; return nil }); err != nil {
		return nil, "", false, err
	}
	for id, f := range files {
		if f.Epoch != 0 && supersedesLive(c, f.Supersedes) {
			return nil, "index object " + id.Short() + " supersedes some it was built from", false, nil
		}
	}
	return d.memIndex(ctx, files, c), "", false, nil
}

// overlayObjects bounds the index objects read at every open beside the
// cache file (each snapshot adds at least one).
var overlayObjects = 32

func supersedesLive(c *diskIndex, sup []ID) bool {
	for _, s := range sup {
		for _, cf := range c.meta.files {
			if cf.id == s && cf.live {
				return true
			}
		}
	}
	return false
}

// supersedesOf reads the supersedes list of a signed index object (nil for
// an unsigned one, whose claim counts for nothing).
func (d *Dataset) supersedesOf(ctx context.Context, id ID) ([]ID, error) {
	var sup []ID
	err := d.r.readFirst(ctx, d.IndexHandle(id), 0, 0, func(_ *Site, b []byte) error {
		f, err := d.openIndexObject(id, b)
		if err == nil && f.Epoch != 0 {
			sup = f.Supersedes
		}
		return err
	})
	return sup, err
}

// fetchIndexes reads, authenticates and decodes the index objects ids,
// several at a time within indexLoadBytes, and hands each to use (one call
// at a time). An object no site returns authentic but that hashes to its
// name is recorded in d.badIndexes and skipped; other failures are errors.
func (d *Dataset) fetchIndexes(ctx context.Context, ids []ID, sizes map[ID]int64, use func(ID, *IndexFile) error) error {
	return d.fetchIndexesWithin(ctx, ids, sizes, indexLoadBytes, use)
}

// fetchIndexesWithin is fetchIndexes loading at most bytes of objects at
// once (more than one only while they fit).
func (d *Dataset) fetchIndexesWithin(ctx context.Context, ids []ID, sizes map[ID]int64, bytes int64, use func(ID, *IndexFile) error) error {
	var mu sync.Mutex
	var firstErr error
	adm := newLoadAdmission(8, bytes)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		n := sizes[id]
		adm.acquire(n)
		go func(id ID) {
			defer wg.Done()
			defer adm.release(n)
			var f *IndexFile
			var served []string
			err := d.r.readFirst(ctx, d.IndexHandle(id), 0, 0, func(s *Site, b []byte) error {
				var err error
				f, err = d.openIndexObject(id, b)
				if err != nil {
					served = append(served, s.Name)
				}
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			// A copy whose bytes hash to its name but do not authenticate
			// was made by someone without the home's keys: planted.
			// (Bytes that do not match the name are damage to a real
			// index, and stay an error.)
			if err != nil && len(served) > 0 && !errors.Is(err, errNameMismatch) && (errors.Is(err, seal.ErrAuth) || errors.Is(err, ErrSignature) || errors.Is(err, errFormat)) {
				// No site has an authentic copy: planted junk, or damage.
				// Either way it is not used; the rest of the dataset stays
				// usable, and prune refuses while it is there.
				d.badIndexes[id] = err
				for _, name := range served {
					d.r.alert(ctx, Alert{Site: name, Attack: AttackForgedIndex, Object: d.IndexHandle(id).String(), Detail: "an index that does not authenticate; ignored: " + err.Error()})
				}
				return
			}
			if err != nil {
				if firstErr == nil {
					firstErr = hint.WithCode(hint.Wrap(fmt.Errorf("index %s of dataset %s: %w", id.Short(), d.Keys.Name, err),
						"run 'embassy verify' to see which site is damaged"), hint.CodeDamaged)
				}
				return
			}
			if firstErr == nil {
				if err := use(id, f); err != nil {
					firstErr = fmt.Errorf("index cache of dataset %s: %w", d.Keys.Name, err)
				}
			}
		}(id)
	}
	wg.Wait()
	return firstErr
}

// EachIndexFile calls fn with every live index object and its entries, one
// at a time: from memory for a small dataset, read back from the sites
// (and authenticated again) when the index is backed by the cache file.
func (d *Dataset) EachIndexFile(ctx context.Context, fn func(ID, *IndexFile) error) error {
	files := d.Idx.Files()
	ids := make([]ID, 0, len(files))
	for id := range files {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	d.Idx.mu.RLock()
	full := d.Idx.full
	d.Idx.mu.RUnlock()
	for _, id := range ids {
		f := files[id]
		if !full {
			err := d.r.readFirst(ctx, d.IndexHandle(id), 0, 0, func(_ *Site, b []byte) error {
				var err error
				f, err = d.openIndexObject(id, b)
				return err
			})
			if err != nil {
				return hint.WithCode(hint.Wrap(fmt.Errorf("index %s of dataset %s: %w", id.Short(), d.Keys.Name, err),
					"run 'embassy verify' to see which site is damaged"), hint.CodeDamaged)
			}
		}
		if err := fn(id, f); err != nil {
			return err
		}
	}
	return nil
}
