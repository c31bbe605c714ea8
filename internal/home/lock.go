package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/hint"
)

// Lock takes an advisory lock named name in the home: shared for writers
// that may run together (snapshots), exclusive for prune, forget, rotate
// and shred. The kernel drops it when the process dies, so a kill -9 never
// leaves a stale lock.
func (h *Home) Lock(name string, exclusive bool) (unlock func(), err error) {
	dir := filepath.Join(h.Dir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("%s is locked by another embassy process", name),
				"wait for the other snapshot, prune or key operation to finish"), hint.CodeLocked)
		}
		return nil, err
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
