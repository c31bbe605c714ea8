package repo

import (
	"bufio"
	"bytes"
	"container/heap"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/zeebo/blake3"
)

// cacheRunRecs is how many records the builder sorts in memory before it
// spills them to a run file (64 bytes each: 32 MiB).
var cacheRunRecs = 512 << 10

// cacheBuildHook, when set by a test, is called at each stage of a build;
// an error stops the build there, as a crash would.
var cacheBuildHook func(stage string) error

func buildStage(stage string) error {
	crashpoint.Hit("repo.indexcache." + stage)
	if cacheBuildHook != nil {
		return cacheBuildHook(stage)
	}
	return nil
}

// runRec is a record being sorted: the cache record, with the number of
// the index object that listed it in bytes 56..59.
type runRec [cacheRecLen]byte

func (r *runRec) id() []byte   { return r[:32] }
func (r *runRec) pack() uint32 { return binary.BigEndian.Uint32(r[32:]) }
func (r *runRec) off() uint32  { return binary.BigEndian.Uint32(r[40:]) }
func (r *runRec) file() uint32 { return binary.BigEndian.Uint32(r[56:]) }

// runFile is a sorted run spilled to disk, with a keyed hash of its bytes
// under a key that lives only in this process: a run changed on disk while
// the build reads it back fails the build.
type runFile struct {
	path string
	sum  [32]byte
}

// cacheBuilder builds a cache file from verified index objects in bounded
// memory: records are sorted in runs of cacheRunRecs and merged.
type cacheBuilder struct {
	dir, base string
	key       [32]byte
	runKey    [32]byte
	dsid      string

	packNo    map[ID]uint32
	packs     []IndexPack
	files     []cachedFile
	filePacks [][]uint32

	run   []runRec
	runs  []runFile
	total uint64

	// base is an older cache file merged in (an incremental build): its
	// records are one more sorted run, listed by the pseudo-object olderNo.
	older   *diskIndex
	olderNo uint32
}

func newCacheBuilder(path string, key [32]byte, dsid string) (*cacheBuilder, error) {
	b := &cacheBuilder{dir: filepath.Dir(path), base: filepath.Base(path), key: key, dsid: dsid, packNo: map[ID]uint32{}}
	if _, err := rand.Read(b.runKey[:]); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, err
	}
	b.clearLeftovers()
	return b, nil
}

// leftoverAge is how old a temporary file of a build must be to be taken
// for the leftover of a killed one (a younger one may be another process
// building the same file).
const leftoverAge = time.Hour

// clearLeftovers removes the temporary files killed builds of this file left.
func (b *cacheBuilder) clearLeftovers() {
	left, _ := filepath.Glob(filepath.Join(b.dir, atomicfile.TempPrefix+b.base+"-*"))
	for _, l := range left {
		if fi, err := os.Stat(l); err == nil && time.Since(fi.ModTime()) > leftoverAge {
			os.Remove(l)
		}
	}
}

// add takes the blobs of one verified index object.
func (b *cacheBuilder) add(id ID, f *IndexFile) error {
	fno := uint32(len(b.files))
	b.files = append(b.files, cachedFile{id: id, epoch: f.Epoch, supersedes: f.Supersedes})
	var fp []uint32
	for _, p := range f.Packs {
		no, ok := b.packNo[p.ID]
		if !ok {
			no = uint32(len(b.packs))
			b.packNo[p.ID] = no
			b.packs = append(b.packs, IndexPack{ID: p.ID, KeyVersion: p.KeyVersion, Size: p.Size})
		}
		fp = append(fp, no)
		for _, e := range p.Entries {
			var r runRec
			putRecord(r[:], e.ID, blobLoc{pack: no, keyVersion: p.KeyVersion, offset: e.Offset, length: e.Length, raw: e.Raw, typ: e.Type, codec: e.Codec})
			binary.BigEndian.PutUint32(r[56:], fno)
			b.run = append(b.run, r)
			b.total++
			if len(b.run) >= cacheRunRecs {
				if err := b.spill(); err != nil {
					return err
				}
			}
		}
	}
	b.filePacks = append(b.filePacks, fp)
	return nil
}

// addCache takes the records of an older cache file, before any add: the
// index objects added since are then merged into it, without reading its
// objects again. The caller has checked that none of them supersedes one
// of its live objects.
func (b *cacheBuilder) addCache(c *diskIndex) {
	b.older = c
	for _, p := range c.meta.packs {
		b.packNo[p.ID] = uint32(len(b.packs))
		b.packs = append(b.packs, p)
	}
	all := make([]uint32, len(c.meta.packs))
	for i := range all {
		all[i] = uint32(i)
	}
	// The pseudo-object that lists the file's records (never written out)
	// sorts first, so the file's packs keep their numbers.
	b.olderNo = uint32(len(b.files))
	b.files = append(b.files, cachedFile{live: true})
	b.filePacks = append(b.filePacks, all)
	for _, f := range c.meta.files {
		b.files = append(b.files, f)
		b.filePacks = append(b.filePacks, nil) // their packs came with the file
	}
	b.total += c.meta.n
}

// cmp orders records by blob id, then (pack id, offset): the first live
// record of an id is the location the in-memory index would choose.
func (b *cacheBuilder) cmp(x, y *runRec) int {
	if c := bytes.Compare(x.id(), y.id()); c != 0 {
		return c
	}
	if px, py := x.pack(), y.pack(); px != py {
		return bytes.Compare(b.packs[px].ID[:], b.packs[py].ID[:])
	}
	if ox, oy := x.off(), y.off(); ox != oy {
		if ox < oy {
			return -1
		}
		return 1
	}
	return 0
}

func (b *cacheBuilder) spill() error {
	if len(b.run) == 0 {
		return nil
	}
	slices.SortFunc(b.run, func(x, y runRec) int { return b.cmp(&x, &y) })
	f, err := os.CreateTemp(b.dir, atomicfile.TempPrefix+b.base+"-run-*")
	if err != nil {
		return err
	}
	h, _ := blake3.NewKeyed(b.runKey[:])
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	for i := range b.run {
		if _, err := w.Write(b.run[i][:]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	rf := runFile{path: f.Name()}
	h.Sum(rf.sum[:0])
	b.runs = append(b.runs, rf)
	b.run = b.run[:0]
	return buildStage("run")
}

// abort removes the builder's temporary files.
func (b *cacheBuilder) abort() {
	for _, r := range b.runs {
		os.Remove(r.path)
	}
	b.runs = nil
	b.run = nil
}

// live decides which index objects count: the rule of LoadIndex, only a
// signed index retires others.
func liveFiles(files []cachedFile) {
	sup := map[ID]bool{}
	for _, f := range files {
		if f.epoch != 0 {
			for _, s := range f.supersedes {
				sup[s] = true
			}
		}
	}
	for i := range files {
		files[i].live = !sup[files[i].id]
	}
}

// cursor reads one sorted run back.
type cursor struct {
	r   *bufio.Reader
	h   *blake3.Hasher
	f   *os.File
	rf  runFile
	cur runRec
	mem []runRec // the last run, never spilled

	base   *diskIndex // an older cache file, read block by block
	baseNo uint32
	buf    []byte
	blk    []byte
	nextNo uint64
}

func (c *cursor) next() (bool, error) {
	if c.base != nil {
		if len(c.blk) == 0 {
			if c.nextNo >= uint64(len(c.base.meta.tags)) {
				return false, nil
			}
			var err error
			if c.blk, err = c.base.block(c.nextNo, c.buf); err != nil {
				return false, err
			}
			c.nextNo++
		}
		copy(c.cur[:], c.blk[:cacheRecLen])
		c.blk = c.blk[cacheRecLen:]
		binary.BigEndian.PutUint32(c.cur[56:], c.baseNo)
		return true, nil
	}
	if c.f == nil {
		if len(c.mem) == 0 {
			return false, nil
		}
		c.cur, c.mem = c.mem[0], c.mem[1:]
		return true, nil
	}
	if _, err := io.ReadFull(c.r, c.cur[:]); err != nil {
		if errors.Is(err, io.EOF) {
			var sum [32]byte
			c.h.Sum(sum[:0])
			if sum != c.rf.sum {
				return false, fmt.Errorf("index cache: run %s changed on disk during the build: %w", filepath.Base(c.rf.path), errCache)
			}
			return false, nil
		}
		return false, err
	}
	c.h.Write(c.cur[:])
	return true, nil
}

type cursorHeap struct {
	b  *cacheBuilder
	cs []*cursor
}

func (h *cursorHeap) Len() int           { return len(h.cs) }
func (h *cursorHeap) Less(i, j int) bool { return h.b.cmp(&h.cs[i].cur, &h.cs[j].cur) < 0 }
func (h *cursorHeap) Swap(i, j int)      { h.cs[i], h.cs[j] = h.cs[j], h.cs[i] }
func (h *cursorHeap) Push(x any)         { h.cs = append(h.cs, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	c := h.cs[len(h.cs)-1]
	h.cs = h.cs[:len(h.cs)-1]
	return c
}

// finish merges the runs into the cache file at dir/base, atomically
// replacing any older one.
func (b *cacheBuilder) finish() (err error) {
	defer b.abort()
	liveFiles(b.files)
	if b.older != nil {
		b.files[b.olderNo].live = true
	}
	// The pack table of the cache: packs of live index objects, renumbered.
	remap := make([]uint32, len(b.packs))
	var packs []IndexPack
	seen := make([]bool, len(b.packs))
	// In index id order, so that the same objects make the same file
	// whatever order they were read in.
	order := make([]int, len(b.files))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		if b.older != nil && (i == int(b.olderNo)) != (j == int(b.olderNo)) {
			if i == int(b.olderNo) {
				return -1
			}
			return 1
		}
		return bytes.Compare(b.files[i].id[:], b.files[j].id[:])
	})
	for _, i := range order {
		if !b.files[i].live {
			continue
		}
		for _, p := range b.filePacks[i] {
			if !seen[p] {
				seen[p] = true
				remap[p] = uint32(len(packs))
				packs = append(packs, b.packs[p])
			}
		}
	}
	slices.SortFunc(b.run, func(x, y runRec) int { return b.cmp(&x, &y) })
	h := &cursorHeap{b: b}
	defer func() {
		for _, c := range h.cs {
			if c.f != nil {
				c.f.Close()
			}
		}
	}()
	open := []*cursor{{mem: b.run}}
	if b.older != nil {
		open = append(open, &cursor{base: b.older, baseNo: b.olderNo, buf: make([]byte, cacheBlockLen)})
	}
	for _, rf := range b.runs {
		f, err := os.Open(rf.path)
		if err != nil {
			return err
		}
		hh, _ := blake3.NewKeyed(b.runKey[:])
		open = append(open, &cursor{r: bufio.NewReaderSize(f, 256<<10), h: hh, f: f, rf: rf})
	}
	for _, c := range open {
		ok, err := c.next()
		if err != nil {
			if c.f != nil {
				c.f.Close()
			}
			return err
		}
		if ok {
			h.cs = append(h.cs, c)
		} else if c.f != nil {
			c.f.Close()
		}
	}
	heap.Init(h)

	out, err := os.CreateTemp(b.dir, atomicfile.TempPrefix+b.base+"-*")
	if err != nil {
		return err
	}
	tmp := out.Name()
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(out, 1<<20)
	m := &cacheMeta{dsid: b.dsid, fanoutBits: fanoutBitsFor(b.total), packs: packs}
	if b.older != nil {
		m.dups = b.older.meta.dups
	}
	counts := make([]uint64, 1<<m.fanoutBits)
	var blk [cacheBlockLen]byte
	fill := 0
	flushBlock := func() error {
		m.tags = append(m.tags, blockTag(&b.key, uint64(len(m.tags)), blk[:fill]))
		_, err := bw.Write(blk[:fill])
		fill = 0
		return err
	}
	var last ID
	var winner blobLoc
	have := false
	for h.Len() > 0 {
		c := h.cs[0]
		r := c.cur
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
			if c.f != nil {
				c.f.Close()
				c.f = nil
			}
		}
		if !b.files[r.file()].live {
			continue
		}
		var id ID
		copy(id[:], r.id())
		loc := getRecord(r[:])
		loc.pack = remap[loc.pack]
		if have && id == last {
			if loc != winner {
				m.dups++
			}
			continue
		}
		last, winner, have = id, loc, true
		putRecord(blk[fill:], id, loc)
		fill += cacheRecLen
		m.n++
		counts[prefixOf(id, m.fanoutBits)]++
		if fill == cacheBlockLen {
			if err := flushBlock(); err != nil {
				return err
			}
		}
	}
	if fill > 0 {
		if err := flushBlock(); err != nil {
			return err
		}
	}
	if err := buildStage("merge"); err != nil {
		return err
	}
	m.fanout = make([]uint64, len(counts)+1)
	for i, n := range counts {
		m.fanout[i+1] = m.fanout[i] + n
	}
	for _, i := range order {
		if b.older == nil || i != int(b.olderNo) {
			m.files = append(m.files, b.files[i])
		}
	}
	meta := m.encode()
	mac := cacheMAC(&b.key, m.n*cacheRecLen, meta)
	if _, err := bw.Write(meta); err != nil {
		return err
	}
	var foot [8]byte
	binary.BigEndian.PutUint64(foot[:], uint64(len(meta)))
	if _, err := bw.Write(foot[:]); err != nil {
		return err
	}
	if _, err := bw.Write(mac[:]); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := buildStage("rename"); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(b.dir, b.base)); err != nil {
		return err
	}
	if d, err := os.Open(b.dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", b.dir, err)
		}
	}
	return nil
}
