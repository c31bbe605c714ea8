package repo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// ID is a 256-bit identifier: a keyed BLAKE3 hash for blobs (so that a host
// cannot confirm that a known file is stored), a plain BLAKE3 hash of the
// stored bytes for packs, indexes and snapshots (so that anyone can check an
// object against its name without keys).
type ID [32]byte

// String returns the lowercase hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is all zero.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses a 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("invalid id %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid id %q: %v", s, err)
	}
	return id, nil
}

// Hash returns the unkeyed BLAKE3-256 of b: the name of a stored object.
func Hash(b []byte) ID {
	return ID(blake3.Sum256(b))
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// MarshalText encodes id as hex.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes a hex id.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
