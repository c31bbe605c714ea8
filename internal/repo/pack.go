package repo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

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
	packEntryLen   = 1 + 32 + 4 + 4 + 4
	maxPackEntries = 1 << 20
)

// PackEntry locates one blob inside a pack.
type PackEntry struct {
	Type   BlobType
	ID     ID
	Offset uint32 // of the sealed box, from the start of the pack
	Length uint32 // of the sealed box
	Raw    uint32 // plaintext length before compression
}

func blobAD(t BlobType, id ID) []byte {
	ad := make([]byte, 0, 33+16)
	ad = append(ad, "embassy.v1 blob"...)
	ad = append(ad, byte(t))
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
		b = append(b, byte(e.Type))
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
		copy(e.ID[:], p[1:33])
		e.Offset = binary.BigEndian.Uint32(p[33:])
		e.Length = binary.BigEndian.Uint32(p[37:])
		e.Raw = binary.BigEndian.Uint32(p[41:])
		if e.Offset < packPrefixLen || e.Length < seal.Overhead+1 || int64(e.Offset)+int64(e.Length) > packLen {
			return nil, fmt.Errorf("pack header entry %d out of bounds: %w", i, errFormat)
		}
		p = p[packEntryLen:]
	}
	return out, nil
}

// packBuilder accumulates sealed blobs into one pack.
type packBuilder struct {
	buf     []byte
	entries []PackEntry
	keyVer  uint32
}

func newPackBuilder(keyVer uint32, capacity int) *packBuilder {
	buf := make([]byte, 0, capacity)
	buf = append(buf, packPrefix(keyVer)...)
	return &packBuilder{buf: buf, keyVer: keyVer}
}

func (p *packBuilder) add(t BlobType, id ID, box []byte, raw int) {
	p.entries = append(p.entries, PackEntry{Type: t, ID: id, Offset: uint32(len(p.buf)), Length: uint32(len(box)), Raw: uint32(raw)})
	p.buf = append(p.buf, box...)
}

func (p *packBuilder) size() int { return len(p.buf) }

// finish seals the header and returns the complete pack bytes.
func (p *packBuilder) finish(k *seal.Key, dsid string) []byte {
	hdr := encodePackHeader(p.entries)
	prefix := p.buf[:packPrefixLen]
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
