// Package proof lets a home check, without downloading objects and without
// holding their bytes, that a site still holds exactly the objects it was
// given. The home sends a fresh nonce and a sample of handles; for each
// content-addressed object (named by the BLAKE3-256 of its bytes) the site
// reveals nonce-selected 1 KiB chunks with their BLAKE3 inclusion paths,
// always including the last chunk, which pins the size; for other objects
// it returns a nonce-keyed BLAKE3 MAC the home checks against its own copy.
// The site also returns a nonce-keyed digest of its listing of chosen
// kinds, compared with the names the home expects. The format is specified
// in docs/formats/proofs.md. The package is pure: no I/O, no context.
package proof

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/site"
)

// Limits of a challenge.
const (
	MaxObjects = 100_000
	MaxChunks  = 16
)

// Challenge is what the home sends.
type Challenge struct {
	Nonce   [32]byte
	Chunks  int           // random chunks revealed per object, besides the last one
	Objects []site.Handle // the sample, in the order answers come back
	List    []site.Kind   // kinds whose listing digest the site returns
}

// NewChallenge draws a fresh nonce and a uniform sample of up to n of the
// handles the home expects the site to hold (all of them if n <= 0).
func NewChallenge(expected []site.Handle, n, chunks int, list ...site.Kind) Challenge {
	c := Challenge{Chunks: chunks, List: list}
	rand.Read(c.Nonce[:])
	objs := slices.Clone(expected)
	if n > 0 && n < len(objs) {
		for i := 0; i < n; i++ { // partial Fisher-Yates
			j := i + int(randUint64()%uint64(len(objs)-i))
			objs[i], objs[j] = objs[j], objs[i]
		}
		objs = objs[:n]
	}
	c.Objects = objs
	return c
}

func randUint64() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// Validate checks a challenge's limits and handles.
func (c *Challenge) Validate() error {
	if c.Chunks < 0 || c.Chunks > MaxChunks {
		return fmt.Errorf("chunks %d outside 0..%d", c.Chunks, MaxChunks)
	}
	if len(c.Objects) > MaxObjects {
		return fmt.Errorf("%d objects, at most %d per challenge", len(c.Objects), MaxObjects)
	}
	for _, h := range c.Objects {
		if err := h.Validate(); err != nil {
			return err
		}
	}
	for _, k := range c.List {
		if err := (site.Handle{Kind: k, Name: "x"}).Validate(); err != nil {
			return err
		}
	}
	return nil
}

// ContentRoot returns the BLAKE3-256 an object's name commits to: packs,
// indexes and snapshots whose last name component is 64 hex digits.
func ContentRoot(h site.Handle) ([32]byte, bool) {
	var root [32]byte
	switch h.Kind {
	case site.KindPack, site.KindIndex, site.KindSnapshot:
	default:
		return root, false
	}
	last := h.Name[strings.LastIndexByte(h.Name, '/')+1:]
	if len(last) != 64 {
		return root, false
	}
	if _, err := hex.Decode(root[:], []byte(last)); err != nil {
		return root, false
	}
	return root, true
}

// SelectChunks returns the chunks to reveal of object h of size bytes:
// k nonce-selected ones (fewer if they repeat) and always the last one.
func SelectChunks(nonce [32]byte, h site.Handle, size int64, k int) []int64 {
	n := numChunks(size)
	out := []int64{n - 1}
	prf := blake3.NewDeriveKey("embassy.v1 proof select")
	var buf [32]byte
	for j := 0; j < k; j++ {
		prf.Reset()
		prf.Write(nonce[:])
		prf.Write([]byte(h.String()))
		binary.LittleEndian.PutUint64(buf[:8], uint64(j))
		prf.Write(buf[:8])
		prf.Sum(buf[:0])
		c := int64(binary.LittleEndian.Uint64(buf[:8]) % uint64(n))
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// MAC is the answer for an object that is not content-addressed:
// BLAKE3 keyed with the nonce over a context string, the handle and the bytes.
func MAC(nonce [32]byte, h site.Handle, data []byte) [32]byte {
	m := NewMAC(nonce, h)
	m.Write(data)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// NewMAC returns the streaming form of MAC; write the object's bytes.
func NewMAC(nonce [32]byte, h site.Handle) *blake3.Hasher {
	m, _ := blake3.NewKeyed(nonce[:])
	m.Write([]byte("embassy.v1 proof mac\x00"))
	m.Write([]byte(h.String()))
	m.Write([]byte{0})
	return m
}

// ListingDigest binds a set of names of kind k to the nonce.
func ListingDigest(nonce [32]byte, k site.Kind, names []string) [32]byte {
	names = slices.Clone(names)
	slices.Sort(names)
	m, _ := blake3.NewKeyed(nonce[:])
	m.Write([]byte("embassy.v1 proof list\x00" + k.String() + "\x00"))
	for _, n := range names {
		m.Write([]byte(n))
		m.Write([]byte{'\n'})
	}
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// Status of one answer.
type Status uint8

const (
	StatusTree    Status = 1 // chunks with inclusion paths
	StatusMAC     Status = 2 // keyed MAC of the whole object
	StatusMissing Status = 3 // the site says it does not hold the object
	StatusError   Status = 4 // the site could not answer
)

// ChunkProof reveals one chunk.
type ChunkProof struct {
	Index int64
	Data  []byte
	Path  []CV // siblings from the root down
}

// Answer is the site's answer for one sampled object.
type Answer struct {
	Status Status
	Size   int64
	Chunks []ChunkProof // StatusTree
	MAC    [32]byte     // StatusMAC
	Err    string       // StatusError
}

// Listing is the site's listing digest for one kind.
type Listing struct {
	Kind   site.Kind
	Count  int64
	Digest [32]byte
}

// Response is what the site sends back: one Answer per challenged object,
// in order, and one Listing per challenged kind, in order.
type Response struct {
	Nonce    [32]byte
	Answers  []Answer
	Listings []Listing
}
