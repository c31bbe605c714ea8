package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/site"
)

// tmpPrefix starts the names of files being written. ValidName refuses
// names starting with a dot, so no object can collide with one.
const tmpPrefix = ".tmp-"

// Put writes p to a temp file beside the object, syncs it and moves it into
// place: os.Link for IfAbsent (atomic create-only), os.Rename otherwise.
// RetainUntil is not enforced by a plain directory.
func (b *Backend) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) (err error) {
	final, err := b.path(ctx, h)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && !errors.Is(err, site.ErrExists) {
			err = hint(fmt.Errorf("put %v: %w", h, err), b.root)
		}
	}()
	dir := filepath.Dir(final)
	if err := mkdirAll(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after Link, or after a failure; fails harmlessly after Rename
	if err := writeFile(ctx, f, p, !opts.Deferred); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.IfAbsent {
		err = os.Link(tmp, final)
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Lstat(final); serr == nil && fi.IsDir() {
				return fmt.Errorf("name is a directory of other objects: %w", err)
			}
			return fmt.Errorf("put %v: %w", h, site.ErrExists)
		}
	} else {
		b.packs.forget(final) // a cached descriptor would read the old file
		err = os.Rename(tmp, final)
		b.packs.forget(final)
	}
	if err != nil {
		return err
	}
	if opts.Deferred {
		b.dirty.Store(true)
		return nil
	}
	return syncDir(dir)
}

// Sync makes every deferred write durable with one syncfs(2) of the site's
// file system.
func (b *Backend) Sync(ctx context.Context) error {
	if !b.dirty.Swap(false) {
		return nil
	}
	d, err := os.Open(b.root)
	if err != nil {
		b.dirty.Store(true)
		return hint(fmt.Errorf("sync: %w", err), b.root)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		b.dirty.Store(true)
		return hint(fmt.Errorf("sync: %w", err), b.root)
	}
	return nil
}

func writeFile(ctx context.Context, f *os.File, p site.Payload, sync bool) error {
	n, err := io.Copy(f, ctxReader{ctx, p.NewReader()})
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if n != p.Len() {
		return fmt.Errorf("payload gave %d bytes, want %d", n, p.Len())
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	// Objects are immutable: keep them read-only.
	return f.Chmod(0o400)
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
