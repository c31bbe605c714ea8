package repo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/seal"
)

// BlobType tells file content from directory trees.
type BlobType uint8

const (
	BlobData BlobType = 1
	BlobTree BlobType = 2
)

func (t BlobType) String() string {
	switch t {
	case BlobData:
		return "data"
	case BlobTree:
		return "tree"
	}
	return fmt.Sprintf("blobtype(%d)", uint8(t))
}

// Pack format (see docs/FORMAT.md):
//
//	magic "EMBPACK1" | key version u32 BE | blob boxes ... | header box | header box length u32 BE
const (
	packMagic      = "EMBPACK1"
	packPrefixLen  = 12
	packEntryLen   = 1 + 1 + 32 + 4 + 4 + 4
	maxPackEntries = 1 << 20
	// maxBlobBox is the largest sealed blob a writer produces: a payload no
	// larger than MaxBlobSize (writers store a blob uncompressed when
	// compression would not shrink it) and the seal.
	maxBlobBox = seal.Overhead + MaxBlobSize
)

// PackEntry locates one blob inside a pack.
type PackEntry struct {
	Type   BlobType
	Codec  codec.ID // compression of the sealed payload
	ID     ID
	Offset uint32 // of the sealed box, from the start of the pack
	Length uint32 // of the sealed box
	Raw    uint32 // plaintext length before compression
}

func blobAD(t BlobType, c codec.ID, id ID) []byte {
	ad := make([]byte, 0, 15+2+32)
	ad = append(ad, "embassy.v1 blob"...)
	ad = append(ad, byte(t), byte(c))
	return append(ad, id[:]...)
}

func packHeaderAD(prefix []byte, dsid string) []byte {
	ad := []byte("embassy.v1 pack header ")
	ad = append(ad, prefix...)
	return append(ad, dsid...)
}

func packPrefix(keyVersion uint32) []byte {
	b := make([]byte, packPrefixLen)
	copy(b, packMagic)
	binary.BigEndian.PutUint32(b[8:], keyVersion)
	return b
}

func encodePackHeader(entries []PackEntry) []byte {
	b := make([]byte, 4, 4+len(entries)*packEntryLen)
	binary.BigEndian.PutUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, byte(e.Type), byte(e.Codec))
		b = append(b, e.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, e.Offset)
		b = binary.BigEndian.AppendUint32(b, e.Length)
		b = binary.BigEndian.AppendUint32(b, e.Raw)
	}
	return b
}

var errFormat = errors.New("malformed object")

// DecodePackHeader parses a decrypted pack header. packLen bounds offsets.
func DecodePackHeader(b []byte, packLen int64) ([]PackEntry, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("pack header of %d bytes: %w", len(b), errFormat)
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxPackEntries || int64(len(b)-4) != int64(n)*packEntryLen {
		return nil, fmt.Errorf("pack header claims %d entries in %d bytes: %w", n, len(b), errFormat)
	}
	out := make([]PackEntry, n)
	p := b[4:]
	for i := range out {
		e := &out[i]
		e.Type = BlobType(p[0])
		if e.Type != BlobData && e.Type != BlobTree {
			return nil, fmt.Errorf("pack header entry %d has blob type %d: %w", i, p[0], errFormat)
		}
		e.Codec = codec.ID(p[1])
		if !codec.Known(e.Codec) {
			return nil, fmt.Errorf("pack header entry %d has unknown codec %d: %w", i, p[1], errFormat)
		}
		copy(e.ID[:], p[2:34])
		e.Offset = binary.BigEndian.Uint32(p[34:])
		e.Length = binary.BigEndian.Uint32(p[38:])
		e.Raw = binary.BigEndian.Uint32(p[42:])
		if e.Offset < packPrefixLen || e.Length < seal.Overhead || int64(e.Offset)+int64(e.Length) > packLen || e.Raw > MaxBlobSize || e.Length > maxBlobBox {
			return nil, fmt.Errorf("pack header entry %d out of bounds: %w", i, errFormat)
		}
		p = p[packEntryLen:]
	}
	return out, nil
}

// packBuilder accumulates sealed blobs into one pack. Space for a blob is
// reserved under the writer's lock and the blob is sealed into it outside
// the lock, so workers seal in parallel straight into the pack buffer.
type packBuilder struct {
	buf      []byte
	entries  []PackEntry
	keyVer   uint32
	inflight int            // reservations not yet filled (guarded by the writer's lock)
	filled   sync.WaitGroup // reservations being sealed
	pooled   bool
	token    bool // holds one of the writer's bufTokens
}

func newPackBuilder(keyVer uint32, buf []byte) *packBuilder {
	buf = append(buf[:0], packPrefix(keyVer)...)
	return &packBuilder{buf: buf, keyVer: keyVer}
}

// fits reports whether a box of n more bytes fits without reallocating,
// together with the header that will then name it.
func (p *packBuilder) fits(n int) bool {
	return len(p.buf)+n+p.trailerLen(len(p.entries)+1) <= cap(p.buf)
}

// trailerLen is the size of the sealed header box and its length field of
// a pack of n entries, which finish appends after the blobs.
func (p *packBuilder) trailerLen(n int) int { return 4 + n*packEntryLen + seal.Overhead + 4 }

// reserve appends an entry and returns the zero-length slice at its place,
// with capacity for its box. The caller must hold the writer's lock, and
// call filled.Done after sealing into the slice.
func (p *packBuilder) reserve(t BlobType, c codec.ID, id ID, boxLen, raw int) []byte {
	if !p.fits(boxLen) {
		if p.inflight > 0 {
			panic("repo: pack reservation without room")
		}
		nb := make([]byte, len(p.buf), 2*(len(p.buf)+boxLen+p.trailerLen(len(p.entries)+1)))
		copy(nb, p.buf)
		p.buf, p.pooled = nb, false
	}
	off := len(p.buf)
	p.entries = append(p.entries, PackEntry{Type: t, Codec: c, ID: id, Offset: uint32(off), Length: uint32(boxLen), Raw: uint32(raw)})
	p.buf = p.buf[:off+boxLen]
	p.inflight++
	p.filled.Add(1)
	return p.buf[off:off:(off + boxLen)]
}

// size is the length of the finished pack so far: blobs and header. A
// pack of many tiny blobs has a header of megabytes; counting it closes
// the pack before its buffer has to grow (a copy of the whole pack).
func (p *packBuilder) size() int { return len(p.buf) + p.trailerLen(len(p.entries)) }

// finish waits for every reservation, seals the header and returns the
// complete pack bytes.
func (p *packBuilder) finish(k *seal.Key, dsid string) []byte {
	p.filled.Wait()
	hdr := encodePackHeader(p.entries)
	prefix := append([]byte(nil), p.buf[:packPrefixLen]...)
	p.buf = k.Seal(p.buf, hdr, packHeaderAD(prefix, dsid))
	boxLen := seal.Overhead + len(hdr)
	p.buf = binary.BigEndian.AppendUint32(p.buf, uint32(boxLen))
	return p.buf
}

// ParsePackPrefix checks the magic and returns the key version.
func ParsePackPrefix(b []byte) (uint32, error) {
	if len(b) < packPrefixLen || !bytes.Equal(b[:8], []byte(packMagic)) {
		return 0, fmt.Errorf("not a pack (bad magic): %w", errFormat)
	}
	return binary.BigEndian.Uint32(b[8:12]), nil
}

// OpenPackHeader decrypts and parses the header of a complete pack held in memory.
func OpenPackHeader(pack []byte, k *seal.Key, dsid string) ([]PackEntry, error) {
	if len(pack) < packPrefixLen+4+seal.Overhead {
		return nil, fmt.Errorf("pack of %d bytes is truncated: %w", len(pack), errFormat)
	}
	boxLen := int64(binary.BigEndian.Uint32(pack[len(pack)-4:]))
	if boxLen < seal.Overhead || boxLen > int64(len(pack))-packPrefixLen-4 {
		return nil, fmt.Errorf("pack header length %d out of bounds: %w", boxLen, errFormat)
	}
	start := int64(len(pack)) - 4 - boxLen
	hdr, err := k.Open(nil, pack[start:len(pack)-4], packHeaderAD(pack[:packPrefixLen], dsid))
	if err != nil {
		return nil, fmt.Errorf("pack header: %w", err)
	}
	return DecodePackHeader(hdr, start)
}
