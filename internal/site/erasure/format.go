package erasure

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// Shard format, version 1 (docs/formats/erasure.md): a 64-byte header, then
// one record per stripe: the shard's bytes of that stripe followed by a
// 32-byte tag.
const (
	headerLen  = 64
	tagLen     = 32
	version    = 1
	maxShards  = 256
	maxStripe  = 64 << 20
	maxObject  = 1 << 50
	idLen      = 16
	hashedLen  = 48 // header bytes covered by the header check
	headerMAC  = 16 // truncated BLAKE3 of the first hashedLen bytes
	tagContext = "embassy erasure stripe v1"
)

var magic = [4]byte{'E', 'M', 'E', 'C'}

// header is the self-description at the start of every shard.
type header struct {
	K, M   int      // data and parity shards
	Index  int      // this shard's position, 0..K+M-1; < K is a data shard
	Stripe int64    // shard bytes per full stripe
	Size   int64    // object size
	Time   int64    // write time, Unix nanoseconds; newer versions win
	ID     [16]byte // random per Put: shards of one write share it
}

// marshal encodes h.
func (h header) marshal() []byte {
	b := make([]byte, headerLen)
	copy(b, magic[:])
	b[4] = version
	b[5] = byte(h.K - 1) // 1..256 stored as 0..255
	b[6] = byte(h.M)
	b[7] = byte(h.Index)
	binary.BigEndian.PutUint32(b[8:], uint32(h.Stripe))
	binary.BigEndian.PutUint64(b[12:], uint64(h.Size))
	binary.BigEndian.PutUint64(b[20:], uint64(h.Time))
	copy(b[28:44], h.ID[:])
	// b[44:48] reserved, zero.
	sum := blake3.Sum256(b[:hashedLen])
	copy(b[hashedLen:], sum[:headerMAC])
	return b
}

var errHeader = errors.New("invalid shard header")

// parseHeader decodes and checks a shard header.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerLen {
		return header{}, fmt.Errorf("%w: %d bytes, want %d", errHeader, len(b), headerLen)
	}
	b = b[:headerLen]
	if [4]byte(b[:4]) != magic {
		return header{}, fmt.Errorf("%w: bad magic %q", errHeader, b[:4])
	}
	if b[4] != version {
		return header{}, fmt.Errorf("%w: unsupported version %d", errHeader, b[4])
	}
	sum := blake3.Sum256(b[:hashedLen])
	if [headerMAC]byte(b[hashedLen:]) != [headerMAC]byte(sum[:headerMAC]) {
		return header{}, fmt.Errorf("%w: checksum mismatch", errHeader)
	}
	h := header{
		K:      int(b[5]) + 1,
		M:      int(b[6]),
		Index:  int(b[7]),
		Stripe: int64(binary.BigEndian.Uint32(b[8:])),
		Size:   int64(binary.BigEndian.Uint64(b[12:])),
		Time:   int64(binary.BigEndian.Uint64(b[20:])),
		ID:     [16]byte(b[28:44]),
	}
	switch {
	case h.K+h.M > maxShards:
		return header{}, fmt.Errorf("%w: %d+%d shards", errHeader, h.K, h.M)
	case h.Index >= h.K+h.M:
		return header{}, fmt.Errorf("%w: shard %d of %d", errHeader, h.Index, h.K+h.M)
	case h.Stripe < 1 || h.Stripe > maxStripe:
		return header{}, fmt.Errorf("%w: stripe size %d", errHeader, h.Stripe)
	case h.Size < 0 || h.Size > maxObject:
		return header{}, fmt.Errorf("%w: object size %d", errHeader, h.Size)
	case binary.BigEndian.Uint32(b[44:]) != 0:
		return header{}, fmt.Errorf("%w: reserved bytes set", errHeader)
	}
	return h, nil
}

// version identifies one write of an object: shards combine only within it.
type versionKey struct {
	ID   [16]byte
	Time int64
	Size int64
	K, M int
	S    int64
}

func (h header) key() versionKey {
	return versionKey{ID: h.ID, Time: h.Time, Size: h.Size, K: h.K, M: h.M, S: h.Stripe}
}

// layout is the stripe geometry of an object.
type layout struct {
	k      int
	stripe int64 // shard bytes per full stripe
	size   int64 // object bytes
}

func (h header) layout() layout { return layout{k: h.K, stripe: h.Stripe, size: h.Size} }

// stripes returns the number of stripes.
func (l layout) stripes() int64 {
	w := int64(l.k) * l.stripe
	return (l.size + w - 1) / w
}

// data returns the object bytes held by stripe j.
func (l layout) data(j int64) int64 {
	w := int64(l.k) * l.stripe
	return min(w, l.size-j*w)
}

// shardLen returns the bytes each shard holds of stripe j.
func (l layout) shardLen(j int64) int64 {
	return (l.data(j) + int64(l.k) - 1) / int64(l.k)
}

// recordOff returns where stripe j's record starts in a shard.
func (l layout) recordOff(j int64) int64 { return headerLen + j*(l.stripe+tagLen) }

// shardSize returns the size of every shard object.
func (l layout) shardSize() int64 {
	n := l.stripes()
	if n == 0 {
		return headerLen
	}
	return l.recordOff(n-1) + l.shardLen(n-1) + tagLen
}

// tag authenticates (against accidents, not an adversary: see the format
// document) stripe j of the shard whose header is hdr.
func tag(hdr []byte, j int64, shard []byte) [tagLen]byte {
	h := blake3.New()
	h.WriteString(tagContext)
	h.Write(hdr[:hashedLen])
	var jb [8]byte
	binary.BigEndian.PutUint64(jb[:], uint64(j))
	h.Write(jb[:])
	h.Write(shard)
	var out [tagLen]byte
	h.Sum(out[:0])
	return out
}
