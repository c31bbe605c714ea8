package restorer

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/directio"
	"github.com/digital-embassy/embassy/internal/repo"
)

// stageSize is a writer goroutine's staging buffer for direct writes.
const stageSize = 1 << 20

// writeDirect writes a large dense file with O_DIRECT, around the page
// cache (package directio): its bytes are gathered in the worker's
// aligned staging buffer and written in whole blocks, the last one padded
// and the file then cut to its size. A file system that refuses O_DIRECT
// gets the rest of the file through the page cache.
func writeDirect(ctx context.Context, d *repo.Dataset, fd int, j job, o Options, wb *workBufs) error {
	_ = unix.Fallocate(fd, 0, 0, j.node.Size)
	out := &directOut{fd: fd, buffered: directio.Set(fd, true) != nil}
	if !out.buffered {
		if wb.stage == nil {
			wb.stage = directio.Make(stageSize)
		}
		out.stage = wb.stage
	}
	var err error
	wb.buf, err = d.LoadBlobs(ctx, j.node.Content, wb.buf, func(b []byte) error {
		if err := out.write(b); err != nil {
			return err
		}
		o.Progress.Bytes.Add(int64(len(b)))
		return nil
	})
	if err == nil {
		err = out.finish()
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", j.path, err)
	}
	if out.size != j.node.Size {
		_ = unix.Ftruncate(fd, out.size)
		return fmt.Errorf("restore %s: content is %d bytes, snapshot says %d", j.path, out.size, j.node.Size)
	}
	return nil
}

// directOut writes a file from offset 0 on: staged and direct, or, from
// the file system's first refusal on, straight through the page cache.
type directOut struct {
	fd       int
	stage    []byte // aligned; bytes [0, n) are staged for offset off
	n        int
	off      int64
	size     int64 // bytes written or staged
	buffered bool
}

func (w *directOut) write(b []byte) error {
	w.size += int64(len(b))
	if w.buffered {
		return w.pwrite(b)
	}
	for len(b) > 0 {
		c := copy(w.stage[w.n:], b)
		w.n += c
		b = b[c:]
		if w.n == len(w.stage) {
			if err := w.flush(w.n); err != nil {
				return err
			}
			if w.buffered {
				return w.pwrite(b)
			}
		}
	}
	return nil
}

// flush writes the staged bytes, blk of them (n rounded up to a block).
func (w *directOut) flush(blk int) error {
	clear(w.stage[w.n:blk])
	err := directio.WriteAt(w.fd, w.stage[:blk], w.off)
	if err != nil && directio.Refused(err) {
		// Refused: the same bytes, and the rest of the file, through
		// the page cache.
		if err = directio.Set(w.fd, false); err == nil {
			w.buffered = true
			err = w.pwrite(w.stage[:w.n])
			w.n = 0
			return err
		}
	}
	if err != nil {
		return err
	}
	w.off += int64(w.n)
	w.n = 0
	return nil
}

func (w *directOut) pwrite(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(w.fd, b, w.off)
		if err != nil {
			return err
		}
		b, w.off = b[n:], w.off+int64(n)
	}
	return nil
}

// finish writes the last partial block and cuts the padding off.
func (w *directOut) finish() error {
	if w.buffered {
		return nil
	}
	if w.n > 0 {
		if err := w.flush((w.n + directio.Align - 1) &^ (directio.Align - 1)); err != nil {
			return err
		}
	}
	if w.buffered {
		return nil
	}
	return unix.Ftruncate(w.fd, w.off)
}
