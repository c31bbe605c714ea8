package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/digital-embassy/embassy/internal/site"
)

// hint adds an operator hint to errors a retry cannot fix, and marks them
// permanent.
func hint(err error, root string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return site.Permanent(fmt.Errorf("%w (site disk full: free space on the disk holding %s)", err, root))
	case errors.Is(err, fs.ErrPermission):
		return site.Permanent(fmt.Errorf("%w (permission denied: check the owner and mode of %s and its contents)", err, root))
	case errors.Is(err, syscall.EROFS):
		return site.Permanent(fmt.Errorf("%w (read-only file system: %s cannot take writes)", err, root))
	}
	return err
}

// syncDir fsyncs a directory so that entries created in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		err = nil // some file systems cannot sync directories
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirAll creates dir and any missing parents, syncing each parent so the
// new entries survive a crash.
func mkdirAll(dir string) error { return makeDirs(dir, syncDir) }

// makeDirs creates dir and any missing parents and calls durable on the
// parent of each folder it created, once that folder exists: syncDir to
// make the entry durable now, or (a deferred put) a note for Sync.
func makeDirs(dir string, durable func(parent string) error) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: %w", dir, syscall.ENOTDIR)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := makeDirs(parent, durable); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return durable(parent)
}
