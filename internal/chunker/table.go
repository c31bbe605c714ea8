package chunker

import (
	"encoding/binary"

	"github.com/zeebo/blake3"
)

// tableContext separates the gear table from other uses of the key.
const tableContext = "embassy chunker gear v1"

// Table is a keyed gear table. It is read-only and safe for concurrent use.
type Table struct {
	gear [256]uint64
}

// NewTable derives the gear table from a secret 32-byte key.
func NewTable(key [32]byte) *Table {
	h, err := blake3.NewKeyed(key[:])
	if err != nil {
		panic(err) // unreachable: the key has the right length
	}
	h.WriteString(tableContext)
	var raw [256 * 8]byte
	if _, err := h.Digest().Read(raw[:]); err != nil {
		panic(err) // unreachable: the XOF does not fail
	}
	t := new(Table)
	for i := range t.gear {
		t.gear[i] = binary.LittleEndian.Uint64(raw[i*8:])
	}
	return t
}
