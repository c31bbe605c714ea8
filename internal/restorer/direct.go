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
	out := &directio.Writer{FD: fd, Buffered: directio.Set(fd, true) != nil}
	if !out.Buffered {
		if wb.stage == nil {
			wb.stage = directio.Make(stageSize)
		}
		out.Stage = wb.stage
	}
	var err error
	wb.buf, err = d.LoadBlobs(ctx, j.node.Content, wb.buf, func(b []byte) error {
		if err := out.Write(b); err != nil {
			return err
		}
		o.Progress.Bytes.Add(int64(len(b)))
		return nil
	})
	if err == nil {
		err = out.Finish()
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", j.path, err)
	}
	if out.Size != j.node.Size {
		_ = unix.Ftruncate(fd, out.Size)
		return fmt.Errorf("restore %s: content is %d bytes, snapshot says %d", j.path, out.Size, j.node.Size)
	}
	return nil
}
