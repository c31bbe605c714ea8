package repo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/zeebo/blake3"
)

// The home-local index cache (docs/FORMAT.md §9.1): a sorted file of
// fixed-size (blob id, location) records for one dataset, built from the
// verified index objects and authenticated under a key derived from the
// dataset's ID key. Lookups read and authenticate one or two 4 KiB blocks;
// only the metadata (index objects covered, pack table, fan-out, block
// tags: about 0.5 byte a blob) is held in memory.
//
//	records | meta | meta length u64 | MAC [32]
//
// Each record is 64 bytes: blob id [32] | pack number u32 | key version u32
// | offset u32 | length u32 | raw u32 | type u8 | codec u8 | zero [10].
const (
	cacheMagic     = "EMBIXC01"
	cacheRecLen    = 64
	cacheBlockLen  = 4096
	cacheBlockRecs = cacheBlockLen / cacheRecLen
	cacheTagLen    = 16
	cacheMACLen    = 32
	cacheFooterLen = 8 + cacheMACLen
	cacheMACCtx    = "embassy.v1 index cache"
	// cacheMaxMeta bounds the metadata read at open (a 100-million-blob
	// dataset has about 60 MB).
	cacheMaxMeta = 256 << 20
)

var errCache = errors.New("index cache: not usable")

// cacheKey derives the key that authenticates a dataset's cache file from
// its ID key (stable across key versions; only the dataset's key holder
// can compute it).
func cacheKey(k *DatasetKeys) [32]byte {
	var out [32]byte
	blake3.DeriveKey(cacheMACCtx, k.CurrentKey().IDKey[:], out[:])
	return out
}

// cachedFile is one index object the cache was built from.
type cachedFile struct {
	id         ID
	epoch      uint32
	live       bool // false: superseded by a signed index of the set
	supersedes []ID
}

// cacheMeta is the authenticated description of a cache file.
type cacheMeta struct {
	dsid       string
	n          uint64 // records
	dups       uint64
	fanoutBits uint8
	files      []cachedFile
	packs      []IndexPack // ID and Size only; records name them by number
	fanout     []uint64    // 1<<fanoutBits + 1 record numbers
	tags       [][cacheTagLen]byte
}

func (m *cacheMeta) encode() []byte {
	var b []byte
	b = append(b, cacheMagic...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.dsid)))
	b = append(b, m.dsid...)
	b = binary.BigEndian.AppendUint64(b, m.n)
	b = binary.BigEndian.AppendUint64(b, m.dups)
	b = append(b, m.fanoutBits)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.files)))
	for _, f := range m.files {
		b = append(b, f.id[:]...)
		b = binary.BigEndian.AppendUint32(b, f.epoch)
		live := byte(0)
		if f.live {
			live = 1
		}
		b = append(b, live)
		b = binary.BigEndian.AppendUint32(b, uint32(len(f.supersedes)))
		for _, s := range f.supersedes {
			b = append(b, s[:]...)
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.packs)))
	for _, p := range m.packs {
		b = append(b, p.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, p.KeyVersion)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Size))
	}
	for _, v := range m.fanout {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	for _, t := range m.tags {
		b = append(b, t[:]...)
	}
	return b
}

// decodeCacheMeta parses the metadata strictly; the caller has checked
// its MAC, but it is parsed as if hostile all the same.
func decodeCacheMeta(b []byte) (*cacheMeta, error) {
	bad := func(what string) (*cacheMeta, error) {
		return nil, fmt.Errorf("index cache: %s: %w", what, errCache)
	}
	p := b
	take := func(n int) []byte {
		if n < 0 || len(p) < n {
			return nil
		}
		v := p[:n]
		p = p[n:]
		return v
	}
	u16 := func() (uint16, bool) {
		v := take(2)
		if v == nil {
			return 0, false
		}
		return binary.BigEndian.Uint16(v), true
	}
	u32 := func() (uint32, bool) {
		v := take(4)
		if v == nil {
			return 0, false
		}
		return binary.BigEndian.Uint32(v), true
	}
	u64 := func() (uint64, bool) {
		v := take(8)
		if v == nil {
			return 0, false
		}
		return binary.BigEndian.Uint64(v), true
	}
	if m := take(8); m == nil || string(m) != cacheMagic {
		return bad("bad magic")
	}
	m := &cacheMeta{}
	dl, ok := u16()
	ds := take(int(dl))
	if !ok || ds == nil {
		return bad("dataset id truncated")
	}
	m.dsid = string(ds)
	var ok1, ok2 bool
	m.n, ok1 = u64()
	m.dups, ok2 = u64()
	fb := take(1)
	if !ok1 || !ok2 || fb == nil {
		return bad("counts truncated")
	}
	m.fanoutBits = fb[0]
	if m.fanoutBits > 24 {
		return bad("fan-out too wide")
	}
	nf, ok := u32()
	if !ok || uint64(nf)*41 > uint64(len(p)) {
		return bad("index object list truncated")
	}
	for range nf {
		v := take(41)
		if v == nil {
			return bad("index object truncated")
		}
		f := cachedFile{epoch: binary.BigEndian.Uint32(v[32:]), live: v[36] == 1}
		copy(f.id[:], v)
		if v[36] > 1 {
			return bad("bad live flag")
		}
		ns := binary.BigEndian.Uint32(v[37:])
		if uint64(ns)*32 > uint64(len(p)) {
			return bad("supersedes list truncated")
		}
		for range ns {
			var s ID
			copy(s[:], take(32))
			f.supersedes = append(f.supersedes, s)
		}
		m.files = append(m.files, f)
	}
	np, ok := u32()
	if !ok || uint64(np)*44 > uint64(len(p)) {
		return bad("pack table truncated")
	}
	m.packs = make([]IndexPack, np)
	for i := range m.packs {
		v := take(44)
		copy(m.packs[i].ID[:], v)
		m.packs[i].KeyVersion = binary.BigEndian.Uint32(v[32:])
		m.packs[i].Size = int64(binary.BigEndian.Uint64(v[36:]))
	}
	nfan := uint64(1)<<m.fanoutBits + 1
	if nfan*8 > uint64(len(p)) {
		return bad("fan-out truncated")
	}
	m.fanout = make([]uint64, nfan)
	for i := range m.fanout {
		m.fanout[i], _ = u64()
		if m.fanout[i] > m.n || i > 0 && m.fanout[i] < m.fanout[i-1] {
			return bad("fan-out out of order")
		}
	}
	if m.fanout[0] != 0 || m.fanout[nfan-1] != m.n {
		return bad("fan-out does not cover the records")
	}
	nb := (m.n + cacheBlockRecs - 1) / cacheBlockRecs
	if nb*cacheTagLen != uint64(len(p)) {
		return bad("block tags do not match the record count")
	}
	m.tags = make([][cacheTagLen]byte, nb)
	for i := range m.tags {
		copy(m.tags[i][:], take(cacheTagLen))
	}
	return m, nil
}

// cacheMAC authenticates the metadata (which holds the block tags) and the
// length of the records it describes.
func cacheMAC(key *[32]byte, recBytes uint64, meta []byte) [cacheMACLen]byte {
	h, _ := blake3.NewKeyed(key[:])
	var n [9]byte
	n[0] = 'M'
	binary.BigEndian.PutUint64(n[1:], recBytes)
	h.Write(n[:])
	h.Write(meta)
	var out [cacheMACLen]byte
	h.Sum(out[:0])
	return out
}

// blockTag authenticates block number no of the records.
func blockTag(key *[32]byte, no uint64, blk []byte) [cacheTagLen]byte {
	h, _ := blake3.NewKeyed(key[:])
	var n [9]byte
	n[0] = 'B'
	binary.BigEndian.PutUint64(n[1:], no)
	h.Write(n[:])
	h.Write(blk)
	var sum [32]byte
	h.Sum(sum[:0])
	var out [cacheTagLen]byte
	copy(out[:], sum[:])
	return out
}

func putRecord(r []byte, id ID, l blobLoc) {
	copy(r, id[:])
	binary.BigEndian.PutUint32(r[32:], l.pack)
	binary.BigEndian.PutUint32(r[36:], l.keyVersion)
	binary.BigEndian.PutUint32(r[40:], l.offset)
	binary.BigEndian.PutUint32(r[44:], l.length)
	binary.BigEndian.PutUint32(r[48:], l.raw)
	r[52], r[53] = byte(l.typ), byte(l.codec)
	clear(r[54:cacheRecLen])
}

func getRecord(r []byte) blobLoc {
	return blobLoc{pack: binary.BigEndian.Uint32(r[32:]), keyVersion: binary.BigEndian.Uint32(r[36:]),
		offset: binary.BigEndian.Uint32(r[40:]), length: binary.BigEndian.Uint32(r[44:]), raw: binary.BigEndian.Uint32(r[48:]),
		typ: BlobType(r[52]), codec: codec.ID(r[53])}
}

// diskIndex is an open, authenticated cache file.
type diskIndex struct {
	path string
	log  *slog.Logger
	f    *os.File
	key  [32]byte
	meta *cacheMeta
	// broken is set when a block no longer matches its tag (the file was
	// changed after it was opened): lookups then find nothing, which makes
	// a writer store blobs again rather than trust a location.
	broken atomic.Pointer[error]
	bufs   sync.Pool
}

// cacheCheckAll is the size of records up to which opening a cache file
// authenticates every block (a millionth of a second a record); larger
// files are checked block by block as lookups read them.
var cacheCheckAll uint64 = 64 << 20

// openDiskIndex opens and authenticates a cache file for dataset dsid.
func openDiskIndex(path string, key [32]byte, dsid string) (*diskIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := readCacheMeta(f, &key)
	if err != nil {
		f.Close()
		return nil, err
	}
	if m.dsid != dsid {
		f.Close()
		return nil, fmt.Errorf("index cache: built for dataset %s, not %s: %w", m.dsid, dsid, errCache)
	}
	c := &diskIndex{path: path, f: f, key: key, meta: m}
	if m.n*cacheRecLen <= cacheCheckAll {
		if err := c.each(func(ID, blobLoc) {}); err != nil {
			f.Close()
			return nil, err
		}
	}
	return c, nil
}

func readCacheMeta(f *os.File, key *[32]byte) (*cacheMeta, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < cacheFooterLen {
		return nil, fmt.Errorf("index cache: too short: %w", errCache)
	}
	var foot [cacheFooterLen]byte
	if _, err := f.ReadAt(foot[:], size-cacheFooterLen); err != nil {
		return nil, err
	}
	ml := binary.BigEndian.Uint64(foot[:8])
	if ml > cacheMaxMeta || ml > uint64(size-cacheFooterLen) {
		return nil, fmt.Errorf("index cache: metadata length out of range: %w", errCache)
	}
	recBytes := uint64(size-cacheFooterLen) - ml
	meta := make([]byte, ml)
	if _, err := f.ReadAt(meta, int64(recBytes)); err != nil {
		return nil, err
	}
	if mac := cacheMAC(key, recBytes, meta); !bytes.Equal(mac[:], foot[8:]) {
		return nil, fmt.Errorf("index cache: MAC does not verify (changed, or made under another key): %w", errCache)
	}
	m, err := decodeCacheMeta(meta)
	if err != nil {
		return nil, err
	}
	if m.n*cacheRecLen != recBytes {
		return nil, fmt.Errorf("index cache: record count does not match the file: %w", errCache)
	}
	return m, nil
}

func (c *diskIndex) close() error { return c.f.Close() }

// discard removes a cache file found changed, if it is still the one open,
// so that the next open rebuilds it from the index objects.
func (c *diskIndex) discard(why error) {
	open, err1 := c.f.Stat()
	named, err2 := os.Stat(c.path)
	if err1 == nil && err2 == nil && os.SameFile(open, named) {
		os.Remove(c.path)
	}
	if c.log != nil {
		c.log.Warn("index cache changed on the home disk; discarded (the next command rebuilds it from the index objects)", "file", c.path, "err", why)
	}
}

// block reads and authenticates block no into buf.
func (c *diskIndex) block(no uint64, buf []byte) ([]byte, error) {
	start := no * cacheBlockLen
	end := min(start+cacheBlockLen, c.meta.n*cacheRecLen)
	b := buf[:end-start]
	if _, err := c.f.ReadAt(b, int64(start)); err != nil {
		return nil, fmt.Errorf("index cache: read block %d: %w", no, err)
	}
	if t := blockTag(&c.key, no, b); t != c.meta.tags[no] {
		err := fmt.Errorf("index cache: block %d does not match its tag (the file was changed): %w", no, errCache)
		if c.broken.CompareAndSwap(nil, &err) {
			c.discard(err)
		}
		return nil, err
	}
	return b, nil
}

func prefixOf(id ID, bits uint8) uint64 {
	if bits == 0 {
		return 0
	}
	return binary.BigEndian.Uint64(id[:8]) >> (64 - bits)
}

// lookup returns the record of id: a binary search of the id's fan-out
// bucket, reading each block it touches once.
func (c *diskIndex) lookup(id ID) (blobLoc, bool) {
	if c.broken.Load() != nil {
		return blobLoc{}, false
	}
	m := c.meta
	p := prefixOf(id, m.fanoutBits)
	lo, hi := m.fanout[p], m.fanout[p+1]
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, cacheBlockLen)
		bp = &b
	}
	defer c.bufs.Put(bp)
	cur := ^uint64(0)
	var blk []byte
	for lo < hi {
		mid := lo + (hi-lo)/2
		if no := mid / cacheBlockRecs; no != cur {
			var err error
			if blk, err = c.block(no, *bp); err != nil {
				return blobLoc{}, false
			}
			cur = no
		}
		r := blk[(mid%cacheBlockRecs)*cacheRecLen:][:cacheRecLen]
		switch bytes.Compare(r[:32], id[:]) {
		case 0:
			l := getRecord(r)
			if l.pack >= uint32(len(m.packs)) {
				return blobLoc{}, false // authenticated, so never written: no panic all the same
			}
			return l, true
		case -1:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return blobLoc{}, false
}

// each calls fn for every record in id order.
func (c *diskIndex) each(fn func(ID, blobLoc)) error {
	buf := make([]byte, cacheBlockLen)
	nb := uint64(len(c.meta.tags))
	for no := range nb {
		blk, err := c.block(no, buf)
		if err != nil {
			return err
		}
		for r := blk; len(r) >= cacheRecLen; r = r[cacheRecLen:] {
			var id ID
			copy(id[:], r)
			if l := getRecord(r); l.pack < uint32(len(c.meta.packs)) {
				fn(id, l)
			}
		}
	}
	return nil
}

// fanoutBitsFor picks the fan-out so that a bucket holds about 32 records
// (one or two blocks).
func fanoutBitsFor(n uint64) uint8 {
	if n <= 32 {
		return 0
	}
	return uint8(min(24, bits.Len64((n-1)/32)))
}
