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

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

// pool writes files with o.Workers goroutines; the first error cancels
// the rest.
type pool struct {
	ctx          context.Context
	cancel       context.CancelFunc
	ch           chan job
	wg           sync.WaitGroup
	once         sync.Once
	err          error
	closed       bool
	files, bytes atomic.Int64
}

func startPool(ctx context.Context, d *repo.Dataset, o Options, m *metaApplier) *pool {
	p := &pool{ch: make(chan job, 2*o.Workers)}
	p.ctx, p.cancel = context.WithCancel(ctx)
	for range o.Workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var buf []byte
			for j := range p.ch {
				if p.ctx.Err() != nil {
					continue
				}
				var err error
				buf, err = writeFile(p.ctx, d, j, o, buf, m)
				if err != nil {
					p.once.Do(func() { p.err = err; p.cancel() })
					continue
				}
				p.files.Add(1)
				p.bytes.Add(j.node.Size)
			}
		}()
	}
	return p
}

// send queues j; false means the pool has stopped on an error.
func (p *pool) send(j job) bool {
	select {
	case p.ch <- j:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// wait lets the queued files finish and returns the first error.
func (p *pool) wait() error {
	if !p.closed {
		p.closed = true
		close(p.ch)
	}
	p.wg.Wait()
	if p.err != nil {
		return p.err
	}
	return p.ctx.Err()
}

// stop cancels and drains the pool (after an error elsewhere).
func (p *pool) stop() {
	p.cancel()
	p.wait()
}

// sparse reports whether n has holes: recorded data extents, or no
// content at all for a non-empty file.
func sparse(n *repo.Node) bool { return len(n.Extents) > 0 || (n.Size > 0 && len(n.Content) == 0) }

func writeFile(ctx context.Context, d *repo.Dataset, j job, o Options, buf []byte, m *metaApplier) ([]byte, error) {
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return buf, hint.Wrap(fmt.Errorf("restore: %s already exists", j.path), "restore into an empty directory, or pass --overwrite")
		}
		return buf, fmt.Errorf("restore: %w", err)
	}
	if sparse(&j.node) {
		buf, err = writeSparse(ctx, d, f, j, o, buf)
	} else {
		buf, err = writeDense(ctx, d, f, j, o, buf)
	}
	if err != nil {
		f.Close()
		return buf, err
	}
	if err := f.Close(); err != nil {
		return buf, fmt.Errorf("restore %s: %w", j.path, err)
	}
	m.apply(j.path, &j.node)
	o.Progress.Files.Add(1)
	return buf, nil
}

// writeBlobs writes blobs in order starting at off (or at the current
// offset if off < 0) and returns how many bytes they held.
func writeBlobs(ctx context.Context, d *repo.Dataset, f *os.File, ids []repo.ID, off int64, o Options, buf []byte) (int64, []byte, error) {
	var written int64
	for _, id := range ids {
		b, err := d.LoadBlob(ctx, id, buf)
		if err != nil {
			return written, buf, fmt.Errorf("restore %s: %w", f.Name(), err)
		}
		if cap(b) > cap(buf) {
			buf = b[:0]
		}
		if off >= 0 {
			_, err = f.WriteAt(b, off+written)
		} else {
			_, err = f.Write(b)
		}
		if err != nil {
			return written, buf, fmt.Errorf("restore %s: %w", f.Name(), err)
		}
		written += int64(len(b))
		o.Progress.Bytes.Add(int64(len(b)))
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
