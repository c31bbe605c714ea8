package vault

import (
	"fmt"

	"github.com/digital-embassy/embassy/internal/hint"
)

// minHomeRoom is the free space an operation that changes the vault needs
// on the home's disk: its mirror of the vault state and the transparency
// log's entry, tiles and checkpoint are written there.
const minHomeRoom = 4 << 20

// writes are the operations that change the vault: they are refused on a
// home disk too full to record them, before they change anything. Readers
// (restore, ls, verify) still run, and say that their entry was not logged.
var writes = map[Op]bool{OpSnapshot: true, OpSync: true, OpRepair: true, OpForget: true, OpPrune: true, OpRotate: true, OpShred: true, OpExit: true}

// homeRoom refuses when the home's disk has less than minHomeRoom free.
func (v *Vault) homeRoom(op Op) error {
	free, ok := freeBytes(v.Home.Dir)
	if !ok || free >= minHomeRoom {
		return nil
	}
	return hint.Wrap(fmt.Errorf("%s refused: the disk holding the home %s is full (%d KiB free): the operation could not be recorded in the transparency log", op, v.Home.Dir, free>>10),
		"free space on that disk (or move the home to a bigger one) and run it again; nothing was changed")
}
