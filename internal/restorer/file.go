package restorer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/directio"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

func writeFiles(ctx context.Context, d *repo.Dataset, jobs []job, o Options, st *Stats, m *metaApplier) error {
	ch := make(chan job)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	var nfiles, nbytes atomic.Int64
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wb := &workBufs{}
			for j := range ch {
				if ctx.Err() != nil {
					continue
				}
				err := writeFile(ctx, d, j, o, wb, m)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					continue
				}
				nfiles.Add(1)
				nbytes.Add(j.node.Size)
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	st.Files += nfiles.Load()
	st.Bytes += nbytes.Load()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// sparse reports whether n has holes: recorded data extents, or no
// content at all for a non-empty file.
func sparse(n *repo.Node) bool { return len(n.Extents) > 0 || (n.Size > 0 && len(n.Content) == 0) }

// workBufs are one writer goroutine's buffers, kept from file to file:
// buf for LoadBlobs, stage for direct writes (made on first use).
type workBufs struct {
	buf, stage []byte
}

func writeFile(ctx context.Context, d *repo.Dataset, j job, o Options, wb *workBufs, m *metaApplier) error {
	// unix.Open and os.NewFile rather than os.OpenFile: a regular file
	// gains nothing from Go's poller, and registering it costs five
	// syscalls (four fcntl and a failing epoll_ctl) per restored file.
	fd, err := unix.Open(j.path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return hint.Wrap(fmt.Errorf("restore: %s already exists", j.path), "restore into an empty directory, or pass --overwrite")
		}
		return fmt.Errorf("restore: open %s: %w", j.path, err)
	}
	f := os.NewFile(uintptr(fd), j.path)
	switch {
	case sparse(&j.node):
		wb.buf, err = writeSparse(ctx, d, f, j, o, wb.buf)
	case j.node.Size >= directio.Min && directio.Enabled():
		err = writeDirect(ctx, d, fd, j, o, wb)
	default:
		wb.buf, err = writeDense(ctx, d, f, j, o, wb.buf)
	}
	if err != nil {
		f.Close()
		return err
	}
	// Owner, mode and extended attributes through the open file; the
	// times (set by path, after the last write) last.
	m.applyTo(j.path, f, &j.node)
	if err := f.Close(); err != nil {
		return fmt.Errorf("restore %s: %w", j.path, err)
	}
	o.Progress.Files.Add(1)
	return nil
}

// writeBlobs writes blobs in order starting at off (or at the current
// offset if off < 0) and returns how many bytes they held.
func writeBlobs(ctx context.Context, d *repo.Dataset, f *os.File, ids []repo.ID, off int64, o Options, buf []byte) (int64, []byte, error) {
	var written int64
	buf, err := d.LoadBlobs(ctx, ids, buf, func(b []byte) error {
		var err error
		if off >= 0 {
			_, err = f.WriteAt(b, off+written)
		} else {
			_, err = f.Write(b)
		}
		if err != nil {
			return err
		}
		written += int64(len(b))
		o.Progress.Bytes.Add(int64(len(b)))
		return nil
	})
	if err != nil {
		return written, buf, fmt.Errorf("restore %s: %w", f.Name(), err)
	}
	return written, buf, nil
}

func writeDense(ctx context.Context, d *repo.Dataset, f *os.File, j job, o Options, buf []byte) ([]byte, error) {
	if j.node.Size > 0 {
		_ = unix.Fallocate(int(f.Fd()), 0, 0, j.node.Size)
	}
	written, buf, err := writeBlobs(ctx, d, f, j.node.Content, -1, o, buf)
	if err != nil {
		return buf, err
	}
	if written != j.node.Size {
		_ = f.Truncate(written)
		return buf, fmt.Errorf("restore %s: content is %d bytes, snapshot says %d", j.path, written, j.node.Size)
	}
	return buf, nil
}

// writeSparse sets the file's size first (one hole) and writes only the
// data extents, so the holes stay holes: no zeros are ever written.
func writeSparse(ctx context.Context, d *repo.Dataset, f *os.File, j job, o Options, buf []byte) ([]byte, error) {
	if err := f.Truncate(j.node.Size); err != nil {
		return buf, fmt.Errorf("restore %s: %w", j.path, err)
	}
	next := 0
	var data int64
	for _, x := range j.node.Extents {
		ids := j.node.Content[next : next+x.Blobs]
		next += x.Blobs
		_ = unix.Fallocate(int(f.Fd()), 0, x.Off, x.Len)
		n, b, err := writeBlobs(ctx, d, f, ids, x.Off, o, buf)
		buf = b
		if err != nil {
			return buf, err
		}
		if n != x.Len {
			return buf, fmt.Errorf("restore %s: extent at %d is %d bytes, snapshot says %d", j.path, x.Off, n, x.Len)
		}
		data += n
	}
	o.Progress.Bytes.Add(j.node.Size - data)
	return buf, nil
}
