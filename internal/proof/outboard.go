package proof

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// GroupChunks is the number of chunks whose chaining values an Outboard
// folds into one: a prover re-reads and re-hashes at most one group
// (4 KiB) per revealed chunk, and keeps 32 bytes per group (about 0.8% of
// the object, 1.6% with the upper levels).
const GroupChunks = 4

const groupLen = GroupChunks * ChunkLen

// Outboard holds the upper levels of an object's BLAKE3 tree, from which
// a prover builds inclusion paths after re-hashing only the group that
// holds a revealed chunk. It is the daemon's cache, never trusted by the
// verifier.
type Outboard struct {
	Size   int64
	levels [][]CV // levels[0]: group CVs; levels[i+1]: pairs of levels[i], an odd last one carried
}

// Bytes is the memory an Outboard keeps, for cache accounting.
func (o *Outboard) Bytes() int64 {
	var n int64 = 64
	for _, l := range o.levels {
		n += int64(len(l)) * 32
	}
	return n
}

// OutboardWriter computes an Outboard from a stream.
type OutboardWriter struct {
	buf    []byte
	size   int64
	groups []CV
}

// NewOutboardWriter returns an empty OutboardWriter.
func NewOutboardWriter() *OutboardWriter {
	return &OutboardWriter{buf: make([]byte, 0, groupLen)}
}

func (w *OutboardWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(w.buf) == groupLen {
			w.flush()
		}
		k := copy(w.buf[len(w.buf):groupLen], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
	}
	w.size += int64(n)
	return n, nil
}

func (w *OutboardWriter) flush() {
	first := int64(len(w.groups)) * GroupChunks
	w.groups = append(w.groups, groupCV(w.buf, first))
	w.buf = w.buf[:0]
}

// Outboard finishes the stream.
func (w *OutboardWriter) Outboard() *Outboard {
	if len(w.buf) > 0 || len(w.groups) == 0 {
		w.flush()
	}
	levels := [][]CV{w.groups}
	for l := w.groups; len(l) > 1; {
		next := make([]CV, 0, (len(l)+1)/2)
		for i := 0; i+1 < len(l); i += 2 {
			next = append(next, parentCV(l[i], l[i+1], false))
		}
		if len(l)%2 == 1 {
			next = append(next, l[len(l)-1])
		}
		levels = append(levels, next)
		l = next
	}
	return &Outboard{Size: w.size, levels: levels}
}

// BuildOutboard reads r to the end.
func BuildOutboard(r io.Reader) (*Outboard, error) {
	w := NewOutboardWriter()
	if _, err := io.Copy(w, r); err != nil {
		return nil, err
	}
	return w.Outboard(), nil
}

// groupCV hashes the (non-root) subtree of the chunks in data, the first
// being chunk number first.
func groupCV(data []byte, first int64) CV {
	cvs := chunkCVs(data, first)
	return subtree(cvs, 0, int64(len(cvs)))
}

func chunkCVs(data []byte, first int64) []CV {
	n := max(1, (len(data)+ChunkLen-1)/ChunkLen)
	cvs := make([]CV, n)
	for i := range cvs {
		lo := i * ChunkLen
		hi := min(lo+ChunkLen, len(data))
		cvs[i] = chunkCV(data[lo:hi], uint64(first)+uint64(i), false)
	}
	return cvs
}

func subtree(cvs []CV, lo, hi int64) CV {
	if hi-lo == 1 {
		return cvs[lo]
	}
	mid := lo + leftLen(hi-lo)
	return parentCV(subtree(cvs, lo, mid), subtree(cvs, mid, hi), false)
}

// GroupRange is the byte range a prover must read to reveal chunk c.
func (o *Outboard) GroupRange(c int64) (off, n int64) {
	off = c / GroupChunks * groupLen
	return off, min(groupLen, o.Size-off)
}

// ErrGroup means the bytes given to Prove do not fit the outboard.
var ErrGroup = errors.New("group bytes do not match the object's size")

// Prove returns chunk c and its inclusion path (siblings from the root
// down), given the bytes of c's group (see GroupRange).
func (o *Outboard) Prove(c int64, group []byte) (chunk []byte, path []CV, err error) {
	n := numChunks(o.Size)
	if c < 0 || c >= n {
		return nil, nil, fmt.Errorf("chunk %d outside 0..%d", c, n-1)
	}
	goff, glen := o.GroupRange(c)
	if int64(len(group)) != glen {
		return nil, nil, ErrGroup
	}
	g0 := goff / ChunkLen // first chunk of the group
	local := chunkCVs(group, g0)
	off, l := chunkBounds(o.Size, c)
	chunk = group[off-goff : off-goff+l]
	ng := int64(len(o.levels[0]))
	lo, hi := int64(0), n
	for hi-lo > 1 {
		mid := lo + leftLen(hi-lo)
		slo, shi := mid, hi
		if c >= mid {
			slo, shi = lo, mid
			lo = mid
		} else {
			hi = mid
		}
		if inside := slo >= g0 && shi <= g0+int64(len(local)); !inside {
			span := (shi - slo + GroupChunks - 1) / GroupChunks
			lvl := bits.Len64(uint64(span - 1))
			idx := slo / GroupChunks >> lvl
			if slo%GroupChunks != 0 || lvl >= len(o.levels) || idx >= int64(len(o.levels[lvl])) || ng == 0 {
				return nil, nil, ErrGroup
			}
			path = append(path, o.levels[lvl][idx])
			continue
		}
		path = append(path, subtree(local, slo-g0, shi-g0))
	}
	return chunk, path, nil
}

// VerifyChunk checks that chunk is chunk c of the object of size bytes whose
// BLAKE3-256 is root, given its inclusion path from the root down.
func VerifyChunk(root [32]byte, size, c int64, chunk []byte, path []CV) bool {
	if size < 0 {
		return false
	}
	n := numChunks(size)
	if c < 0 || c >= n {
		return false
	}
	if _, l := chunkBounds(size, c); int64(len(chunk)) != max(l, 0) {
		return false
	}
	if n == 1 {
		return len(path) == 0 && chunkCV(chunk, 0, true).Bytes() == root
	}
	var right []bool // per level from the top: is c in the right subtree
	lo, hi := int64(0), n
	for hi-lo > 1 {
		mid := lo + leftLen(hi-lo)
		if c >= mid {
			right = append(right, true)
			lo = mid
		} else {
			right = append(right, false)
			hi = mid
		}
	}
	if len(path) != len(right) {
		return false
	}
	cv := chunkCV(chunk, uint64(c), false)
	for i := len(right) - 1; i >= 0; i-- {
		if right[i] {
			cv = parentCV(path[i], cv, i == 0)
		} else {
			cv = parentCV(cv, path[i], i == 0)
		}
	}
	return cv.Bytes() == root
}
