// Package atomicfile replaces files atomically: the one helper every
// package of the home uses, so that a crash leaves either the old or the
// new content, never a torn file.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the name of every temporary file Write creates (next
// to the file it replaces); a file with it is left only by a killed run.
const TempPrefix = ".tmp-"

// Write writes data to a temporary file in path's folder, syncs it, sets
// perm, renames it over path and syncs the folder.
func Write(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// IsTemp reports whether name is one of Write's temporary files.
func IsTemp(name string) bool { return strings.HasPrefix(filepath.Base(name), TempPrefix) }
