package archiver

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/repo"
)

// maxExtents bounds the data regions recorded for one sparse file; past it
// the smallest holes are merged into data (stored as zeros).
const maxExtents = 4096

// dataExtents finds the data regions of the first size bytes of f with
// SEEK_DATA and SEEK_HOLE. ok is false when the file has no hole (or the
// file system cannot say), so the caller reads it as a dense file.
func dataExtents(f *os.File, size int64) (exts []repo.Extent, ok bool) {
	fd := int(f.Fd())
	var off int64
	for off < size {
		d, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole from off to the end
		}
		if err != nil || d < off {
			return nil, false
		}
		if d >= size {
			break
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil || h <= d {
			return nil, false
		}
		if h > size {
			h = size
		}
		exts = append(exts, repo.Extent{Off: d, Len: h - d})
		off = h
	}
	if len(exts) == 1 && exts[0].Off == 0 && exts[0].Len == size {
		return nil, false
	}
	return mergeExtents(exts), true
}

// mergeExtents joins neighbours across the smallest holes until at most
// maxExtents remain.
func mergeExtents(exts []repo.Extent) []repo.Extent {
	for gap := int64(64 << 10); len(exts) > maxExtents; gap *= 2 {
		out := exts[:1]
		for _, e := range exts[1:] {
			last := &out[len(out)-1]
			if e.Off-(last.Off+last.Len) < gap {
				last.Len = e.Off + e.Len - last.Off
				continue
			}
			out = append(out, e)
		}
		exts = out
	}
	return exts
}
