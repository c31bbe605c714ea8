package repo

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/keys"
)

// IndexPack lists the blobs of one pack, as recorded in an index object.
type IndexPack struct {
	ID         ID
	KeyVersion uint32
	Size       int64
	Entries    []PackEntry
}

// IndexFile is the plaintext of an index object: which blobs live in which
// packs, and which older index objects it replaces (written by prune).
type IndexFile struct {
	Supersedes []ID
	Packs      []IndexPack

	// Epoch is the key epoch whose signing key signed the index (0:
	// unsigned, as written before signed indexes). Sig and Body are the
	// signature and the bytes it covers, as decoded.
	Epoch uint32
	Sig   []byte
	Body  []byte
}

const (
	indexMagic       = "EMBIDX01"
	signedIndexMagic = "EMBIDX02"
	indexSigCtx      = "embassy.v1 index"
	indexTrailerLen  = 4 + ed25519.SignatureSize
)

// EncodeSigned serialises f as a signed index (docs/FORMAT.md §9): the
// body with magic EMBIDX02, then epoch u32 and an Ed25519 signature over
// dsid || body in context "embassy.v1 index".
func (f *IndexFile) EncodeSigned(dsid string, epoch uint32, priv ed25519.PrivateKey) []byte {
	b := f.Encode()
	copy(b, signedIndexMagic)
	sig := keys.Sign(priv, indexSigCtx, indexSigned(dsid, b))
	b = binary.BigEndian.AppendUint32(b, epoch)
	return append(b, sig...)
}

func indexSigned(dsid string, body []byte) []byte {
	m := make([]byte, 0, len(dsid)+1+len(body))
	m = append(m, dsid...)
	m = append(m, 0)
	return append(m, body...)
}

// reencode serialises a decoded index exactly as it was stored.
func (f *IndexFile) reencode() []byte {
	b := f.Encode()
	if f.Epoch == 0 {
		return b
	}
	copy(b, signedIndexMagic)
	b = binary.BigEndian.AppendUint32(b, f.Epoch)
	return append(b, f.Sig...)
}

// verify reports whether a signed index's signature verifies under pub.
func (f *IndexFile) verify(dsid string, pub []byte) bool {
	return f.Epoch != 0 && keys.Verify(pub, indexSigCtx, indexSigned(dsid, f.Body), f.Sig)
}

// maxPackSize bounds the pack size an index may record: blob offsets and
// lengths are 32-bit, so offset+length must not wrap.
const maxPackSize = math.MaxUint32

// Encode serialises f (binary, big-endian; see docs/FORMAT.md).
func (f *IndexFile) Encode() []byte {
	n := 8 + 4 + 32*len(f.Supersedes) + 4
	for _, p := range f.Packs {
		n += 32 + 4 + 8 + 4 + len(p.Entries)*packEntryLen
	}
	b := make([]byte, 0, n)
	b = append(b, indexMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Supersedes)))
	for _, id := range f.Supersedes {
		b = append(b, id[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Packs)))
	for _, p := range f.Packs {
		b = append(b, p.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, p.KeyVersion)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Size))
		b = append(b, encodePackHeader(p.Entries)...)
	}
	return b
}

// DecodeIndex parses an index plaintext strictly.
func DecodeIndex(b []byte) (*IndexFile, error) {
	bad := func(what string) (*IndexFile, error) {
		return nil, fmt.Errorf("index: %s: %w", what, errFormat)
	}
	if len(b) < 16 || (string(b[:8]) != indexMagic && string(b[:8]) != signedIndexMagic) {
		return bad("bad magic")
	}
	var epoch uint32
	var sig, body []byte
	if string(b[:8]) == signedIndexMagic {
		if len(b) < 16+indexTrailerLen {
			return bad("signature missing")
		}
		t := b[len(b)-indexTrailerLen:]
		b = b[:len(b)-indexTrailerLen]
		// The signature is copied: the caller drops Body once verified,
		// and nothing then holds the plaintext (46 bytes a blob).
		epoch, sig, body = binary.BigEndian.Uint32(t), bytes.Clone(t[4:]), b
		if epoch == 0 {
			return bad("signed by epoch 0")
		}
	}
	p := b[8:]
	ns := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(ns)*32 > uint64(len(p)) {
		return bad("supersedes list truncated")
	}
	f := &IndexFile{Epoch: epoch, Sig: sig, Body: body}
	for i := uint32(0); i < ns; i++ {
		var id ID
		copy(id[:], p)
		f.Supersedes = append(f.Supersedes, id)
		p = p[32:]
	}
	if len(p) < 4 {
		return bad("pack count missing")
	}
	np := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(np)*(32+4+8+4) > uint64(len(p)) {
		return bad("pack list truncated")
	}
	f.Packs = make([]IndexPack, 0, np)
	for i := uint32(0); i < np; i++ {
		if len(p) < 48 {
			return bad("pack entry truncated")
		}
		var ip IndexPack
		copy(ip.ID[:], p)
		ip.KeyVersion = binary.BigEndian.Uint32(p[32:])
		ip.Size = int64(binary.BigEndian.Uint64(p[36:]))
		ne := binary.BigEndian.Uint32(p[44:])
		if ip.Size < packPrefixLen || ip.Size > maxPackSize {
			return bad("pack size out of range")
		}
		if uint64(ne) > maxPackEntries || uint64(ne)*packEntryLen > uint64(len(p)-44-4) {
			return bad("blob list truncated")
		}
		l := 4 + int(ne)*packEntryLen
		ents, err := DecodePackHeader(p[44:44+l], ip.Size)
		if err != nil {
			return nil, fmt.Errorf("index pack %s: %w", ip.ID.Short(), err)
		}
		ip.Entries = ents
		f.Packs = append(f.Packs, ip)
		p = p[44+l:]
	}
	if len(p) != 0 {
		return bad("trailing bytes")
	}
	return f, nil
}

// BlobLoc is where a blob lives.
type BlobLoc struct {
	Pack       ID
	KeyVersion uint32
	Type       BlobType
	Codec      codec.ID
	Offset     uint32
	Length     uint32
	Raw        uint32
}

// Index is the union of a dataset's index objects: in memory for small
// datasets; for large ones a home-local cache file (idxcache.go) with the
// blobs of index objects added since it was built, and those being
// written, in memory.
type Index struct {
	mu      sync.RWMutex
	blobs   map[ID]blobLoc
	packs   map[ID]packRef // pack -> its number and size
	packIDs []ID           // by number
	files   map[ID]*IndexFile
	dups    int

	// disk, when set, holds most blobs; its pack numbers are the first
	// of packIDs. files then hold no Packs (full is false): callers that
	// need the entries read them back from the objects (EachIndexFile).
	disk *diskIndex
	full bool
}

// blobLoc is a BlobLoc as the index keeps it: the pack by its number in
// packIDs, 24 bytes instead of 56 (10 million blobs: 320 MB less).
type blobLoc struct {
	pack, keyVersion    uint32
	offset, length, raw uint32
	typ                 BlobType
	codec               codec.ID
}

type packRef struct {
	no   uint32
	size int64
}

func newIndex() *Index {
	return &Index{blobs: make(map[ID]blobLoc), packs: make(map[ID]packRef), files: make(map[ID]*IndexFile), full: true}
}

// newDiskBackedIndex starts an index whose blobs are mostly in c.
func newDiskBackedIndex(c *diskIndex) *Index {
	x := newIndex()
	x.full = false
	x.disk = c
	x.dups = int(c.meta.dups)
	for i, p := range c.meta.packs {
		x.packs[p.ID] = packRef{no: uint32(i), size: p.Size}
		x.packIDs = append(x.packIDs, p.ID)
	}
	runtime.AddCleanup(x, func(f *os.File) { f.Close() }, c.f)
	return x
}

// addFile records a loaded or written index object; an index backed by a
// cache file keeps only what Bind and prune's bookkeeping need.
func (x *Index) addFile(id ID, f *IndexFile) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.full {
		f = &IndexFile{Supersedes: f.Supersedes, Epoch: f.Epoch}
	}
	x.files[id] = f
}

// lower reports whether location a wins over b: the lowest (pack, offset).
func (x *Index) lower(a, b blobLoc) bool {
	pa, pb := x.packIDs[a.pack], x.packIDs[b.pack]
	c := bytes.Compare(pa[:], pb[:])
	return c < 0 || c == 0 && a.offset < b.offset
}

// find returns the location of id; x.mu must be held (read).
func (x *Index) find(id ID) (blobLoc, bool) {
	l, ok := x.blobs[id]
	if x.disk != nil {
		if dl, dok := x.disk.lookup(id); dok && (!ok || x.lower(dl, l)) {
			return dl, true
		}
	}
	return l, ok
}

// Broken returns the error that made the index's cache file unusable
// while open (a block changed under it), or nil.
func (x *Index) Broken() error {
	if x.disk == nil {
		return nil
	}
	if p := x.disk.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// expand turns a kept location into a BlobLoc; x.mu must be held.
func (x *Index) expand(l blobLoc) BlobLoc {
	return BlobLoc{Pack: x.packIDs[l.pack], KeyVersion: l.keyVersion, Type: l.typ, Codec: l.codec, Offset: l.offset, Length: l.length, Raw: l.raw}
}

// addPack records the blobs of one pack.
func (x *Index) addPack(p IndexPack) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ref, ok := x.packs[p.ID]
	if !ok {
		ref.no = uint32(len(x.packIDs))
		x.packIDs = append(x.packIDs, p.ID)
	}
	ref.size = p.Size
	x.packs[p.ID] = ref
	for _, e := range p.Entries {
		loc := blobLoc{pack: ref.no, keyVersion: p.KeyVersion, typ: e.Type, codec: e.Codec, offset: e.Offset, length: e.Length, raw: e.Raw}
		if old, ok := x.blobs[e.ID]; ok {
			if old != loc {
				x.dups++
			}
			// Deterministic whatever order indexes load in: the lowest
			// (pack, offset) wins; restore then checks the blob's keyed ID.
			oldPack := x.packIDs[old.pack]
			if c := bytes.Compare(oldPack[:], p.ID[:]); c < 0 || c == 0 && old.offset <= loc.offset {
				continue
			}
		}
		x.blobs[e.ID] = loc
	}
}

// Duplicates returns how many blob listings named a location other than
// the one used (a repacked or re-uploaded blob, or a planted copy).
func (x *Index) Duplicates() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.dups
}

// Lookup returns where blob id lives.
func (x *Index) Lookup(id ID) (BlobLoc, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l, ok := x.find(id)
	if !ok {
		return BlobLoc{}, false
	}
	return x.expand(l), true
}

// Has reports whether id is stored.
func (x *Index) Has(id ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if _, ok := x.blobs[id]; ok {
		return true
	}
	if x.disk != nil {
		_, ok := x.disk.lookup(id)
		return ok
	}
	return false
}

// Len returns the number of blobs.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.disk == nil {
		return len(x.blobs)
	}
	n := int(x.disk.meta.n)
	for id := range x.blobs {
		if _, ok := x.disk.lookup(id); !ok {
			n++
		}
	}
	return n
}

// Packs returns a copy of the known packs and their sizes.
func (x *Index) Packs() map[ID]int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[ID]int64, len(x.packs))
	for k, v := range x.packs {
		out[k] = v.size
	}
	return out
}

// PackSize returns the size of a known pack, or 0.
func (x *Index) PackSize(id ID) int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.packs[id].size
}

// Files returns the index objects loaded, by name. Backed by a cache file,
// they carry no Packs: read those with Dataset.EachIndexFile.
func (x *Index) Files() map[ID]*IndexFile {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[ID]*IndexFile, len(x.files))
	for k, v := range x.files {
		out[k] = v
	}
	return out
}

// Each calls fn for every blob (from a cache file: in id order, then the
// blobs held in memory). It stops early only if a cache block no longer
// authenticates (see Broken).
func (x *Index) Each(fn func(ID, BlobLoc)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.disk != nil {
		_ = x.disk.each(func(id ID, l blobLoc) {
			if m, ok := x.blobs[id]; ok && x.lower(m, l) {
				return // reported below
			}
			fn(id, x.expand(l))
		})
	}
	for id, l := range x.blobs {
		if x.disk != nil {
			if dl, ok := x.disk.lookup(id); ok && !x.lower(l, dl) {
				continue
			}
		}
		fn(id, x.expand(l))
	}
}
