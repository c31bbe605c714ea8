package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/digital-embassy/embassy/internal/site"
)

// missing reports errors meaning "no such object".
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (b *Backend) notFound(op string, h site.Handle) error {
	return fmt.Errorf("%s %v: %w", op, h, site.ErrNotFound)
}

func (b *Backend) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	path, err := b.path(ctx, h)
	if err != nil {
		return err
	}
	if h.Kind == site.KindPack {
		return b.getPack(ctx, h, path, off, n, fn)
	}
	f, err := os.Open(path)
	if missing(err) {
		return b.notFound("get", h)
	} else if err != nil {
		return hint(fmt.Errorf("get %v: %w", h, err), b.root)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("get %v: %w", h, err)
	}
	if !fi.Mode().IsRegular() {
		return b.notFound("get", h)
	}
	return b.section(ctx, h, f, fi.Size(), off, n, fn)
}

// getPack reads a range of a pack through the cache of open pack files:
// one pread per Get, no open, fstat or close.
func (b *Backend) getPack(ctx context.Context, h site.Handle, path string, off, n int64, fn func(io.Reader) error) error {
	of, isReg, err := b.packs.acquire(path)
	if missing(err) {
		return b.notFound("get", h)
	} else if err != nil {
		return hint(fmt.Errorf("get %v: %w", h, err), b.root)
	} else if !isReg {
		return b.notFound("get", h)
	}
	defer b.packs.release(of)
	if off >= 0 && off <= of.size && (n <= 0 || off+n <= of.size) {
		end := of.size
		if n > 0 {
			end = off + n
		}
		if b.direct.use(end - off) {
			if fd := of.directFD(b.direct); fd >= 0 {
				r := &directReader{fd: fd, ra: of.f, d: b.direct, pos: off, end: end}
				defer r.release()
				b.direct.reads.Add(1)
				return fn(ctxReader{ctx, r})
			}
		}
	}
	return b.section(ctx, h, of.f, of.size, off, n, fn)
}

// section checks [off, off+n) against size (n <= 0: to the end) and hands
// fn a reader of that range of f.
func (b *Backend) section(ctx context.Context, h site.Handle, f io.ReaderAt, size, off, n int64, fn func(io.Reader) error) error {
	if off < 0 || off > size || n > 0 && off+n > size {
		return fmt.Errorf("get %v [%d+%d] of %d bytes: %w", h, off, n, size, site.ErrRange)
	}
	if n <= 0 {
		n = size - off
	}
	return fn(ctxReader{ctx, io.NewSectionReader(f, off, n)})
}

func (b *Backend) Stat(ctx context.Context, h site.Handle) (site.Info, error) {
	path, err := b.path(ctx, h)
	if err != nil {
		return site.Info{}, err
	}
	fi, err := os.Stat(path)
	if missing(err) || err == nil && !fi.Mode().IsRegular() {
		return site.Info{}, b.notFound("stat", h)
	} else if err != nil {
		return site.Info{}, hint(fmt.Errorf("stat %v: %w", h, err), b.root)
	}
	return site.Info{Handle: h, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks <root>/<kind>, skipping temp and other hidden files, and files
// whose names are not valid object names.
func (b *Backend) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	if err := (site.Handle{Kind: k, Name: "x"}).Validate(); err != nil {
		return site.Permanent(err)
	}
	base := filepath.Join(b.root, k.String())
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if missing(err) {
				return nil // the kind folder is not there yet, or vanished under us
			}
			return hint(fmt.Errorf("list %v: %w", k, err), b.root)
		}
		if strings.HasPrefix(d.Name(), ".") && path != base {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(base, path)
		if err != nil {
			return err
		}
		h := site.Handle{Kind: k, Name: filepath.ToSlash(rel)}
		if site.ValidName(h.Name) != nil {
			return nil
		}
		fi, err := d.Info()
		if missing(err) {
			return nil // deleted while listing
		} else if err != nil {
			return fmt.Errorf("list %v: %w", k, err)
		}
		return fn(site.Info{Handle: h, Size: fi.Size(), ModTime: fi.ModTime()})
	})
	return err
}

func (b *Backend) Delete(ctx context.Context, h site.Handle) error {
	path, err := b.path(ctx, h)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if missing(err) || err == nil && !fi.Mode().IsRegular() {
		return b.notFound("delete", h)
	} else if err != nil {
		return hint(fmt.Errorf("delete %v: %w", h, err), b.root)
	}
	b.packs.forget(path)
	err = os.Remove(path)
	if missing(err) {
		return b.notFound("delete", h)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return hint(fmt.Errorf("delete %v: %w", h, err), b.root)
	}
	return nil
}
