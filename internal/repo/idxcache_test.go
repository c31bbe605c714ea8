package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
)

// useDiskIndex makes every dataset opened in this test keep its index in a
// cache file under a fresh folder, and returns the folder.
func useDiskIndex(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	oldMin, oldDir, oldRun := DiskIndexMin, testCacheDir, cacheRunRecs
	DiskIndexMin, testCacheDir = 0, dir
	t.Cleanup(func() { DiskIndexMin, testCacheDir, cacheRunRecs = oldMin, oldDir, oldRun })
	return dir
}

// randomIndexFiles makes n index objects over a shared pool of blob ids:
// some blobs are listed at several locations, some packs by two objects,
// and the last object (signed) supersedes the first.
func randomIndexFiles(rng *rand.Rand, n, blobs int) (map[ID]*IndexFile, []ID) {
	pool := make([]ID, blobs)
	for i := range pool {
		binary.BigEndian.PutUint64(pool[i][:], rng.Uint64())
		binary.BigEndian.PutUint64(pool[i][8:], rng.Uint64())
		pool[i][31] = byte(i)
	}
	files := map[ID]*IndexFile{}
	var ids []ID
	var shared IndexPack
	for f := range n {
		var file IndexFile
		for p := range 1 + rng.IntN(4) {
			ip := IndexPack{KeyVersion: uint32(1 + rng.IntN(2)), Size: 1 << 20}
			binary.BigEndian.PutUint64(ip.ID[:], rng.Uint64())
			ip.ID[8] = byte(p)
			off := uint32(packPrefixLen)
			for range 1 + rng.IntN(blobs/2) {
				l := uint32(30 + rng.IntN(1000))
				ip.Entries = append(ip.Entries, PackEntry{Type: BlobType(1 + rng.IntN(2)), Codec: codec.ID(rng.IntN(3)), ID: pool[rng.IntN(len(pool))], Offset: off, Length: l, Raw: l + uint32(rng.IntN(100))})
				off += l
			}
			file.Packs = append(file.Packs, ip)
		}
		if f == 1 && shared.ID != (ID{}) {
			file.Packs = append(file.Packs, shared) // one pack listed twice
		}
		shared = file.Packs[0]
		var id ID
		binary.BigEndian.PutUint64(id[:], rng.Uint64())
		if f == n-1 && n > 2 {
			file.Epoch = 1
			file.Supersedes = []ID{ids[0]}
		}
		files[id] = &file
		ids = append(ids, id)
	}
	return files, pool
}

// The cache file answers every lookup exactly as the in-memory map does,
// on random sets with duplicates, a pack listed twice, a superseded index
// and runs spilled to disk and merged.
func TestIndexCacheLookupEqualsMap(t *testing.T) {
	dir := useDiskIndex(t)
	var key [32]byte
	key[0] = 7
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 17))
		files, pool := randomIndexFiles(rng, 1+rng.IntN(5), 200+rng.IntN(3000))
		cacheRunRecs = 1 + rng.IntN(700)

		path := filepath.Join(dir, "index", fmt.Sprintf("ds%d.idx", seed))
		b, err := newCacheBuilder(path, key, "ds")
		if err != nil {
			t.Fatal(err)
		}
		for id, f := range files {
			if err := b.add(id, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.finish(); err != nil {
			t.Fatal(err)
		}
		c, err := openDiskIndex(path, key, "ds")
		if err != nil {
			t.Fatal(err)
		}
		disk := newDiskBackedIndex(c)
		// The in-memory index of the same live objects.
		sup := map[ID]bool{}
		for _, f := range files {
			if f.Epoch != 0 {
				for _, s := range f.Supersedes {
					sup[s] = true
				}
			}
		}
		mem := newIndex()
		for id, f := range files {
			if !sup[id] {
				for _, p := range f.Packs {
					mem.addPack(p)
				}
			}
		}
		probe := append([]ID{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, pool...)
		for _, id := range probe {
			ml, mok := mem.Lookup(id)
			dl, dok := disk.Lookup(id)
			if mok != dok || ml != dl || mem.Has(id) != disk.Has(id) {
				t.Fatalf("seed %d: blob %s: map %+v %v, cache %+v %v", seed, id.Short(), ml, mok, dl, dok)
			}
		}
		if mem.Len() != disk.Len() {
			t.Fatalf("seed %d: map %d blobs, cache %d", seed, mem.Len(), disk.Len())
		}
		// Duplicates: the listings at a location other than the one used
		// (the map's count depends on the order objects load in).
		dups := 0
		for id, f := range files {
			if sup[id] {
				continue
			}
			for _, p := range f.Packs {
				for _, e := range p.Entries {
					if l, _ := mem.Lookup(e.ID); l != (BlobLoc{Pack: p.ID, KeyVersion: p.KeyVersion, Type: e.Type, Codec: e.Codec, Offset: e.Offset, Length: e.Length, Raw: e.Raw}) {
						dups++
					}
				}
			}
		}
		if disk.Duplicates() != dups {
			t.Fatalf("seed %d: %d duplicates, want %d", seed, disk.Duplicates(), dups)
		}
		mp, dp := mem.Packs(), disk.Packs()
		if len(mp) != len(dp) {
			t.Fatalf("seed %d: packs %d vs %d", seed, len(mp), len(dp))
		}
		for id, s := range mp {
			if dp[id] != s {
				t.Fatalf("seed %d: pack %s size %d vs %d", seed, id.Short(), s, dp[id])
			}
		}
		n := 0
		disk.Each(func(id ID, l BlobLoc) {
			if ml, _ := mem.Lookup(id); ml != l {
				t.Fatalf("seed %d: Each gives %s at %+v, map %+v", seed, id.Short(), l, ml)
			}
			n++
		})
		if n != mem.Len() {
			t.Fatalf("seed %d: Each saw %d of %d", seed, n, mem.Len())
		}
		// Blobs being written sit in memory beside the file.
		extra := IndexPack{ID: ID{0x00, 0x01}, KeyVersion: 9, Size: 99, Entries: []PackEntry{{Type: BlobData, ID: ID{0xee, byte(seed)}, Offset: 12, Length: 40, Raw: 10}, {Type: BlobData, ID: pool[0], Offset: 52, Length: 40, Raw: 10}}}
		mem.addPack(extra)
		disk.addPack(extra)
		for _, id := range []ID{{0xee, byte(seed)}, pool[0]} {
			ml, _ := mem.Lookup(id)
			if dl, ok := disk.Lookup(id); !ok || dl != ml {
				t.Fatalf("seed %d: written blob %s: cache %+v %v, map %+v", seed, id.Short(), dl, ok, ml)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "index", ".tmp-*")); len(left) != 0 {
			t.Fatalf("build left %v", left)
		}
		c.close()
	}
}

// cacheFixture: a dataset of one snapshot whose index lives in a cache file.
func cacheFixture(t *testing.T) (*bindFixture, *Dataset, string) {
	t.Helper()
	useDiskIndex(t)
	f := newBindFixture(t)
	d := f.open(t)
	// Built when the dataset was empty; built again with its one object.
	os.Remove(d.r.CachePath(d.Keys.ID))
	d = f.open(t)
	if d.Idx.disk == nil || len(d.Idx.blobs) != 0 {
		t.Fatal("the dataset's index is not backed by its cache file")
	}
	return f, d, d.r.CachePath(d.Keys.ID)
}

func mustRestoreBlob(t *testing.T, d *Dataset, id ID, want []byte) {
	t.Helper()
	got, err := d.LoadBlob(context.Background(), id, nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("blob %s: %v (%d bytes, want %d)", id.Short(), err, len(got), len(want))
	}
}

// A cache file changed on the home disk (one bit of a record, of the
// metadata, or truncated) does not authenticate: the next open rebuilds it
// from the signed index objects, and the data reads back exactly. A
// change made while the file is open makes lookups find nothing (a writer
// then stores the blob again) and is reported by Broken.
func TestIndexCacheTamperedRebuilt(t *testing.T) {
	f, d, path := cacheFixture(t)
	mustRestoreBlob(t, d, f.blob, f.plain)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func([]byte) []byte
	}{
		{"record", func(b []byte) []byte { b[40] ^= 1; return b }},
		{"metadata", func(b []byte) []byte { b[len(b)-cacheFooterLen-3] ^= 0x80; return b }},
		{"mac", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func([]byte) []byte { return nil }},
	} {
		if err := os.WriteFile(path, tc.change(bytes.Clone(good)), 0o600); err != nil {
			t.Fatal(err)
		}
		d := f.open(t)
		if d.Idx.disk == nil {
			t.Fatalf("%s: not rebuilt", tc.name)
		}
		mustRestoreBlob(t, d, f.blob, f.plain)
		if back, _ := os.ReadFile(path); !bytes.Equal(back, good) {
			t.Fatalf("%s: the rebuilt file differs from the first build", tc.name)
		}
	}
	// Changed under an open index.
	d = f.open(t)
	b := bytes.Clone(good)
	b[33] ^= 1 // the pack number of the first record
	// Rewritten in place: the open file sees it.
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if d.Idx.Has(f.blob) {
		t.Fatal("a changed block was trusted")
	}
	if err := d.Idx.Broken(); !errors.Is(err, errCache) {
		t.Fatalf("Broken = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the changed file was not discarded: %v", err)
	}

	// A large file is checked block by block as lookups read it: a changed
	// record fails the read that meets it (with a hint), the file is
	// discarded, and the next open rebuilds it.
	old := cacheCheckAll
	cacheCheckAll = 0
	defer func() { cacheCheckAll = old }()
	b = bytes.Clone(good)
	b[40] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d = f.open(t)
	if _, err := d.LoadBlob(context.Background(), f.blob, nil); !errors.Is(err, ErrBlobMissing) || !errors.Is(err, errCache) || hint.Of(err) == "" {
		t.Fatalf("read through a changed block: %v", err)
	}
	d = f.open(t)
	mustRestoreBlob(t, d, f.blob, f.plain)
	if back, _ := os.ReadFile(path); !bytes.Equal(back, good) {
		t.Fatal("not rebuilt after a changed block was met")
	}
}

// A cache file of another index set is not used for this one: made for
// another dataset (copied over), or missing an index object added since
// (kept in memory beside it), or naming one prune deleted (rebuilt).
func TestIndexCacheStale(t *testing.T) {
	ctx := context.Background()
	f, d, path := cacheFixture(t)
	first, _ := os.ReadFile(path)

	// Another snapshot adds an index object: kept in memory, the file
	// is left as it is.
	s2, blob2 := snapshotFile(t, d, "38501012231,Mari,Tamm,Tallinn\n")
	d = f.open(t)
	if back, _ := os.ReadFile(path); !bytes.Equal(back, first) {
		t.Fatal("a small addition rewrote the cache file")
	}
	if _, ok := d.Idx.blobs[blob2]; !ok {
		t.Fatal("the new index object's blob is not in memory")
	}
	mustRestoreBlob(t, d, blob2, []byte("38501012231,Mari,Tamm,Tallinn\n"))
	mustRestoreBlob(t, d, f.blob, f.plain)
	if _, err := d.Bind(ctx, s2); err != nil {
		t.Fatal(err)
	}

	// More objects than are kept beside the file: merged into it (its
	// own objects are not read again), and the merged file answers as one
	// built from all the objects.
	old := overlayObjects
	overlayObjects = 2
	defer func() { overlayObjects = old }()
	var blobs []ID
	for i := range 3 {
		_, b := snapshotFile(t, d, fmt.Sprintf("3850101223%d,Mari,Tamm\n", i))
		blobs = append(blobs, b)
	}
	d = f.open(t)
	if len(d.Idx.blobs) != 0 || len(d.Idx.Files()) != 5 {
		t.Fatalf("not merged: %d blobs in memory, %d objects", len(d.Idx.blobs), len(d.Idx.Files()))
	}
	merged, _ := os.ReadFile(path)
	os.Remove(path)
	full := f.open(t)
	for _, id := range append(blobs, blob2, f.blob) {
		ml, mok := d.Idx.Lookup(id)
		fl, fok := full.Idx.Lookup(id)
		if !mok || !fok || ml != fl {
			t.Fatalf("blob %s: merged %+v %v, full build %+v %v", id.Short(), ml, mok, fl, fok)
		}
	}
	if mp, fp := d.Idx.Packs(), full.Idx.Packs(); len(mp) != len(fp) || d.Idx.Len() != full.Idx.Len() {
		t.Fatalf("merged %d packs %d blobs, full build %d packs %d blobs", len(mp), d.Idx.Len(), len(fp), full.Idx.Len())
	}
	if err := os.WriteFile(path, merged, 0o600); err != nil {
		t.Fatal(err)
	}
	d = f.open(t)
	mustRestoreBlob(t, d, blobs[2], []byte("38501012232,Mari,Tamm\n"))

	// Prune writes one index superseding both and deletes them: the file
	// names deleted objects and is rebuilt. (The fixture's first snapshot
	// is forgotten: its tree is a data blob, which prune refuses.)
	if err := d.Forget(ctx, []ID{f.snap}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	d = f.open(t)
	if back, _ := os.ReadFile(path); bytes.Equal(back, first) {
		t.Fatal("the cache file was not rebuilt after prune")
	}
	if len(d.Idx.blobs) != 0 {
		t.Fatalf("%d blobs in memory after a rebuild", len(d.Idx.blobs))
	}
	mustRestoreBlob(t, d, blob2, []byte("38501012231,Mari,Tamm,Tallinn\n"))
	if d.Idx.Has(f.blob) {
		t.Fatal("the pruned blob is still indexed")
	}

	// The file of another dataset, under this one's name.
	dk2, _, err := d.r.EnsureDataset(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.r.OpenDataset(ctx, dk2); err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(d.r.CachePath(dk2.ID))
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, _ := os.ReadFile(path)
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := openDiskIndex(path, cacheKey(d.Keys), d.Keys.ID); err == nil || c != nil {
		t.Fatalf("another dataset's file opened: %v", err)
	}
	d = f.open(t)
	mustRestoreBlob(t, d, blob2, []byte("38501012231,Mari,Tamm,Tallinn\n"))
	if back, _ := os.ReadFile(path); !bytes.Equal(back, rebuilt) {
		t.Fatal("another dataset's file was not replaced by this one's")
	}
}

// A build that stops at any stage (an error there, as a full disk or a
// crash) leaves the previous file or none, never a half-written one under
// the file's name; the dataset opens all the same (in memory) and the next
// open builds the file.
func TestIndexCacheBuildInterrupted(t *testing.T) {
	f, _, path := cacheFixture(t)
	cacheRunRecs = 1 // every record its own run
	for _, stage := range []string{"run", "merge", "rename"} {
		os.Remove(path)
		cacheBuildHook = func(s string) error {
			if s == stage {
				return errors.New("stopped at " + s)
			}
			return nil
		}
		d := f.open(t)
		cacheBuildHook = nil
		if d.Idx.disk != nil {
			t.Fatalf("%s: a stopped build is in use", stage)
		}
		mustRestoreBlob(t, d, f.blob, f.plain)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: a file was left under the cache's name: %v", stage, err)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-*")); len(left) != 0 {
			t.Fatalf("%s: left %v", stage, left)
		}
		d = f.open(t)
		if d.Idx.disk == nil {
			t.Fatalf("%s: not built on the next open", stage)
		}
		mustRestoreBlob(t, d, f.blob, f.plain)
	}
	// A run changed on disk before the merge reads it back fails the
	// build the same way.
	os.Remove(path)
	cacheBuildHook = func(s string) error {
		if s == "run" {
			runs, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-*-run-*"))
			for _, r := range runs {
				b, _ := os.ReadFile(r)
				b[len(b)-1] ^= 1
				os.WriteFile(r, b, 0o600)
			}
		}
		return nil
	}
	d := f.open(t)
	cacheBuildHook = nil
	if d.Idx.disk != nil {
		t.Fatal("a build from a changed run is in use")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a build from a changed run was renamed into place: %v", err)
	}
	mustRestoreBlob(t, d, f.blob, f.plain)
}

// Killed (SIGKILL, through internal/crashpoint) just before its new file
// would replace the old one, a build leaves the old file in place and in
// use after the restart; its leftovers are ignored, and cleared by a later
// build once they are an hour old (a build of another process may still
// be writing a younger one).
func TestIndexCacheKilledDuringBuild(t *testing.T) {
	f, _, path := cacheFixture(t)
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIndexCacheChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EMBASSY_INDEX_CACHE_CHILD="+path, crashpoint.Env+"=repo.indexcache.rename:kill")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), crashpoint.Banner+"repo.indexcache.rename@1") {
		t.Fatalf("child was not killed at the rename: %v\n%s", err, out)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-*"))
	if len(left) == 0 {
		t.Fatal("the killed build left no temporary file (killed before it wrote one?)")
	}
	if back, _ := os.ReadFile(path); !bytes.Equal(back, first) {
		t.Fatal("the file under the cache's name changed although the build was killed before the rename")
	}
	d := f.open(t)
	if d.Idx.disk == nil {
		t.Fatal("the old file is not used after the kill")
	}
	mustRestoreBlob(t, d, f.blob, f.plain)
	// An hour later a rebuild (forced by a changed byte) clears them.
	old := time.Now().Add(-2 * time.Hour)
	for _, l := range left {
		if err := os.Chtimes(l, old, old); err != nil {
			t.Fatal(err)
		}
	}
	bad := bytes.Clone(first)
	bad[0] ^= 1
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	d = f.open(t)
	mustRestoreBlob(t, d, f.blob, f.plain)
	if back, _ := os.ReadFile(path); !bytes.Equal(back, first) {
		t.Fatal("the rebuilt file differs from the first build")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-*")); len(left) != 0 {
		t.Fatalf("leftovers of the killed build not cleared: %v", left)
	}
}

// TestIndexCacheChild is the process TestIndexCacheKilledDuringBuild kills:
// it builds a cache file of random index objects at the path it is given.
func TestIndexCacheChild(t *testing.T) {
	path := os.Getenv("EMBASSY_INDEX_CACHE_CHILD")
	if path == "" {
		t.Skip("run by TestIndexCacheKilledDuringBuild")
	}
	files, _ := randomIndexFiles(rand.New(rand.NewPCG(1, 2)), 3, 500)
	b, err := newCacheBuilder(path, [32]byte{1}, "ds")
	if err != nil {
		t.Fatal(err)
	}
	for id, f := range files {
		if err := b.add(id, f); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal(b.finish()) // not reached: killed at the rename
}

// FuzzIndexCache: the decoder of the cache file's metadata, reached both
// directly and through a file whose MAC is right (the home disk can hold
// anything its user or malware writes, with the key or without): any
// input gives an error or a file whose lookups and walk stay in bounds.
func FuzzIndexCache(f *testing.F) {
	dir := f.TempDir()
	key := [32]byte{3}
	files, _ := randomIndexFiles(rand.New(rand.NewPCG(5, 6)), 3, 300)
	path := filepath.Join(dir, "seed.idx")
	b, err := newCacheBuilder(path, key, "ds")
	if err != nil {
		f.Fatal(err)
	}
	for id, file := range files {
		if err := b.add(id, file); err != nil {
			f.Fatal(err)
		}
	}
	if err := b.finish(); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	c, err := openDiskIndex(path, key, "ds")
	if err != nil {
		f.Fatal(err)
	}
	recBytes := c.meta.n * cacheRecLen
	c.close()
	meta := good[recBytes : len(good)-cacheFooterLen]
	f.Add(meta, uint16(0))
	f.Add((&cacheMeta{dsid: "ds", fanout: []uint64{0, 0}}).encode(), uint16(0))
	f.Add(meta[:len(meta)-3], uint16(7))
	f.Fuzz(func(t *testing.T, meta []byte, cut uint16) {
		if m, err := decodeCacheMeta(meta); err == nil {
			if len(m.fanout) != 1<<m.fanoutBits+1 || uint64(len(m.tags)) != (m.n+cacheBlockRecs-1)/cacheBlockRecs {
				t.Fatalf("accepted inconsistent metadata: %d fan-out, %d tags for %d records", len(m.fanout), len(m.tags), m.n)
			}
		}
		// As a whole file: some records (cut short of what the metadata
		// says, maybe), the metadata, a MAC made with the key.
		recs := good[:min(int(recBytes), int(cut)*cacheRecLen)]
		if int(cut) >= len(good) {
			recs = good[:recBytes]
		}
		file := append(bytes.Clone(recs), meta...)
		file = binary.BigEndian.AppendUint64(file, uint64(len(meta)))
		mac := cacheMAC(&key, uint64(len(recs)), meta)
		file = append(file, mac[:]...)
		p := filepath.Join(t.TempDir(), "f.idx")
		if err := os.WriteFile(p, file, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := openDiskIndex(p, key, "ds")
		if err != nil {
			return
		}
		x := newDiskBackedIndex(c)
		for _, id := range []ID{{}, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
			x.Lookup(id)
		}
		x.Each(func(ID, BlobLoc) {})
	})
}

// TestKnownAnswerIndexCache pins the cache file format (docs/FORMAT.md
// §9.1): the fixed index object, under the key derived from the fixed ID
// key, makes exactly testdata/index-cache.bin, which opens and answers.
func TestKnownAnswerIndexCache(t *testing.T) {
	dir := t.TempDir()
	dk := &DatasetKeys{ID: fixDSID, Current: 1, Keys: map[uint32]*DataKey{1: {Version: 1}}}
	copy(dk.Keys[1].IDKey[:], fixIDKey())
	key := cacheKey(dk)
	path := filepath.Join(dir, "x.idx")
	b, err := newCacheBuilder(path, key, fixDSID)
	if err != nil {
		t.Fatal(err)
	}
	signed := fixIndex()
	signed.Epoch = 1
	if err := b.add(fixID(0x20), signed); err != nil {
		t.Fatal(err)
	}
	if err := b.finish(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	golden(t, "index-cache.bin", got)
	c, err := openDiskIndex(filepath.Join("testdata", "index-cache.bin"), key, fixDSID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	x := newDiskBackedIndex(c)
	e := fixEntries()[1]
	if l, ok := x.Lookup(e.ID); !ok || l != (BlobLoc{Pack: fixID(0x40), KeyVersion: 1, Type: e.Type, Codec: e.Codec, Offset: e.Offset, Length: e.Length, Raw: e.Raw}) {
		t.Fatalf("lookup %+v %v", l, ok)
	}
	if len(c.meta.files) != 1 || !c.meta.files[0].live || c.meta.files[0].supersedes[0] != fixID(0xa0) || x.Len() != 2 {
		t.Fatalf("metadata %+v, %d blobs", c.meta.files, x.Len())
	}
}

// Shredding a dataset removes its index cache file from the home: the
// file lists the blob ids and sizes the shred is meant to make unreadable.
func TestIndexCacheShredRemovesFile(t *testing.T) {
	_, d, path := cacheFixture(t)
	if _, err := d.r.Shred(context.Background(), d.Keys.Name, func(*keys.Root) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the shredded dataset's cache file is still there: %v", err)
	}
}
