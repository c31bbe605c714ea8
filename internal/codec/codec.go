// Package codec compresses and decompresses single chunks. The codec used
// for a chunk is chosen per chunk and recorded in the repository format as
// a one-byte ID.
//
// # Format
//
// A chunk stored with None is the plaintext itself. Zstd is one zstandard
// frame whose header declares the content size (single segment, no
// checksum: chunks are authenticated above this layer). S2 is one S2 block
// (the klauspost/compress/s2 block format, a varint length followed by the
// compressed data).
package codec

import (
	"errors"
	"fmt"
)

// ID names the codec of a stored chunk. The values are part of the
// repository format and never change.
type ID byte

const (
	None ID = 0 // stored as is
	Zstd ID = 1 // one zstandard frame with its content size
	S2   ID = 2 // one S2 block
)

func (id ID) String() string {
	switch id {
	case None:
		return "none"
	case Zstd:
		return "zstd"
	case S2:
		return "s2"
	}
	return fmt.Sprintf("codec(%d)", byte(id))
}

// Mode says how hard Compress tries.
type Mode uint8

const (
	// Auto skips chunks that a sample shows to be incompressible and
	// compresses the others with S2, the fastest codec that still shrinks
	// tabular data well. It is the default.
	Auto Mode = iota
	// Off stores every chunk as is.
	Off
	// Max compresses every chunk with zstd at a high level.
	Max
)

// MaxSize is the largest output Decompress ever produces, whatever the
// maxSize it is given.
const MaxSize = 256 << 20

// ErrTooLarge is returned by Decompress for output above its limit.
var ErrTooLarge = errors.New("codec: decompressed size over limit")

// Known reports whether id is a codec this version reads.
func Known(id ID) bool { return id == None || id == Zstd || id == S2 }
