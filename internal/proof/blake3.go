package proof

import (
	"encoding/binary"
	"math/bits"
)

// This file implements the parts of BLAKE3 (https://github.com/BLAKE3-team/BLAKE3-specs)
// that inclusion proofs need: the compression function, chunk chaining
// values, parent nodes and root outputs of the unkeyed hash. It is written
// for clarity, not speed; tests cross-check it against github.com/zeebo/blake3.

// ChunkLen is the size of a BLAKE3 chunk, the unit a proof reveals.
const ChunkLen = 1024

const blockLen = 64

const (
	flagChunkStart = 1 << 0
	flagChunkEnd   = 1 << 1
	flagParent     = 1 << 2
	flagRoot       = 1 << 3
)

var iv = [8]uint32{0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19}

var msgPermutation = [16]int{2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8}

// CV is a chaining value: a node's 32-byte digest inside the tree.
type CV [8]uint32

// Bytes returns the little-endian encoding of cv.
func (cv CV) Bytes() (out [32]byte) {
	for i, w := range cv {
		binary.LittleEndian.PutUint32(out[4*i:], w)
	}
	return out
}

func cvFromBytes(b []byte) (cv CV) {
	for i := range cv {
		cv[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return cv
}

func g(s *[16]uint32, a, b, c, d int, mx, my uint32) {
	s[a] = s[a] + s[b] + mx
	s[d] = bits.RotateLeft32(s[d]^s[a], -16)
	s[c] = s[c] + s[d]
	s[b] = bits.RotateLeft32(s[b]^s[c], -12)
	s[a] = s[a] + s[b] + my
	s[d] = bits.RotateLeft32(s[d]^s[a], -8)
	s[c] = s[c] + s[d]
	s[b] = bits.RotateLeft32(s[b]^s[c], -7)
}

// schedule[r] is the message word order of round r: the permutation
// applied r times.
var schedule = func() (s [7][16]uint8) {
	for i := range s[0] {
		s[0][i] = uint8(i)
	}
	for r := 1; r < 7; r++ {
		for i, j := range msgPermutation {
			s[r][i] = s[r-1][j]
		}
	}
	return s
}()

func compress(cv CV, m [16]uint32, counter uint64, n uint32, flags uint32) CV {
	s := [16]uint32{
		cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
		iv[0], iv[1], iv[2], iv[3], uint32(counter), uint32(counter >> 32), n, flags,
	}
	for r := range schedule {
		o := &schedule[r]
		g(&s, 0, 4, 8, 12, m[o[0]], m[o[1]])
		g(&s, 1, 5, 9, 13, m[o[2]], m[o[3]])
		g(&s, 2, 6, 10, 14, m[o[4]], m[o[5]])
		g(&s, 3, 7, 11, 15, m[o[6]], m[o[7]])
		g(&s, 0, 5, 10, 15, m[o[8]], m[o[9]])
		g(&s, 1, 6, 11, 12, m[o[10]], m[o[11]])
		g(&s, 2, 7, 8, 13, m[o[12]], m[o[13]])
		g(&s, 3, 4, 9, 14, m[o[14]], m[o[15]])
	}
	var out CV
	for i := range out {
		out[i] = s[i] ^ s[i+8]
	}
	return out
}

func words(block []byte) (m [16]uint32) {
	if len(block) == blockLen {
		for i := range m {
			m[i] = binary.LittleEndian.Uint32(block[4*i:])
		}
		return m
	}
	var buf [blockLen]byte
	copy(buf[:], block)
	for i := range m {
		m[i] = binary.LittleEndian.Uint32(buf[4*i:])
	}
	return m
}

// chunkCV returns the chaining value of chunk number counter (len(data) <=
// ChunkLen); with root set, the root hash of a one-chunk input.
func chunkCV(data []byte, counter uint64, root bool) CV {
	cv := CV(iv)
	flags := uint32(flagChunkStart)
	for {
		n := min(len(data), blockLen)
		last := n == len(data)
		f := flags
		if last {
			f |= flagChunkEnd
			if root {
				f |= flagRoot
				counter = 0 // the root output block counter
			}
		}
		cv = compress(cv, words(data[:n]), counter, uint32(n), f)
		if last {
			return cv
		}
		data = data[n:]
		flags = 0
	}
}

// parentCV combines two children; with root set, it is the root hash.
func parentCV(left, right CV, root bool) CV {
	var m [16]uint32
	copy(m[:8], left[:])
	copy(m[8:], right[:])
	f := uint32(flagParent)
	if root {
		f |= flagRoot
	}
	return compress(CV(iv), m, 0, blockLen, f)
}

// numChunks is the number of chunks of an input of size bytes (at least 1).
func numChunks(size int64) int64 {
	if size <= 0 {
		return 1
	}
	return (size + ChunkLen - 1) / ChunkLen
}

// leftLen is the number of chunks in the left subtree of n > 1 chunks: the
// largest power of two below n.
func leftLen(n int64) int64 {
	return 1 << (63 - bits.LeadingZeros64(uint64(n-1)))
}

// chunkBounds is the byte range of chunk c of an input of size bytes.
func chunkBounds(size, c int64) (off, n int64) {
	off = c * ChunkLen
	return off, min(ChunkLen, size-off)
}

// Sum256 hashes data with the tree code, for tests and the outboard.
func Sum256(data []byte) [32]byte {
	n := numChunks(int64(len(data)))
	if n == 1 {
		return chunkCV(data, 0, true).Bytes()
	}
	var sub func(lo, hi int64, root bool) CV
	sub = func(lo, hi int64, root bool) CV {
		if hi-lo == 1 {
			off, l := chunkBounds(int64(len(data)), lo)
			return chunkCV(data[off:off+l], uint64(lo), false)
		}
		mid := lo + leftLen(hi-lo)
		return parentCV(sub(lo, mid, false), sub(mid, hi, false), root)
	}
	return sub(0, n, true).Bytes()
}
