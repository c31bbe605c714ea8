// Package mem is an in-memory site, for tests of code built on sites.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

type object struct {
	data    []byte // never modified once stored
	modTime time.Time
}

// Backend keeps objects in a map. The zero value is not usable; call New.
type Backend struct {
	props site.Properties
	mu    sync.RWMutex
	objs  map[site.Handle]object
}

var _ site.Backend = (*Backend)(nil)

// New returns an empty in-memory site described by props. Missing Location
// and Connections get defaults.
func New(props site.Properties) *Backend {
	if props.Location == "" {
		props.Location = "mem:"
	}
	if props.Connections < 1 {
		props.Connections = 16
	}
	props.ObjectLock = false
	return &Backend{props: props, objs: map[site.Handle]object{}}
}

func check(ctx context.Context, h site.Handle) error {
	if err := h.Validate(); err != nil {
		return site.Permanent(err)
	}
	return ctx.Err()
}

func (b *Backend) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	if err := check(ctx, h); err != nil {
		return err
	}
	want := p.Len()
	if want < 0 {
		return site.Permanent(fmt.Errorf("put %v: negative payload length %d", h, want))
	}
	var buf bytes.Buffer
	buf.Grow(int(min(want, 64<<20)))
	n, err := io.Copy(&buf, ctxReader{ctx, p.NewReader()})
	if err != nil {
		return fmt.Errorf("put %v: %w", h, err)
	}
	if n != want {
		return fmt.Errorf("put %v: payload gave %d bytes, want %d", h, n, want)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[h]; ok && opts.IfAbsent {
		return fmt.Errorf("put %v: %w", h, site.ErrExists)
	}
	b.objs[h] = object{data: buf.Bytes(), modTime: time.Now()}
	return nil
}

func (b *Backend) lookup(ctx context.Context, h site.Handle) (object, error) {
	if err := check(ctx, h); err != nil {
		return object{}, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	o, ok := b.objs[h]
	if !ok {
		return o, fmt.Errorf("%v: %w", h, site.ErrNotFound)
	}
	return o, nil
}

func (b *Backend) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	o, err := b.lookup(ctx, h)
	if err != nil {
		return err
	}
	size := int64(len(o.data))
	if off < 0 || off > size || n > 0 && off+n > size {
		return fmt.Errorf("get %v [%d+%d] of %d bytes: %w", h, off, n, size, site.ErrRange)
	}
	end := size
	if n > 0 {
		end = off + n
	}
	return fn(ctxReader{ctx, bytes.NewReader(o.data[off:end])})
}

func (b *Backend) Stat(ctx context.Context, h site.Handle) (site.Info, error) {
	o, err := b.lookup(ctx, h)
	if err != nil {
		return site.Info{}, err
	}
	return site.Info{Handle: h, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

func (b *Backend) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	if err := (site.Handle{Kind: k, Name: "x"}).Validate(); err != nil {
		return site.Permanent(err)
	}
	b.mu.RLock()
	var infos []site.Info
	for h, o := range b.objs {
		if h.Kind == k {
			infos = append(infos, site.Info{Handle: h, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	b.mu.RUnlock()
	for _, fi := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (b *Backend) Delete(ctx context.Context, h site.Handle) error {
	if err := check(ctx, h); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[h]; !ok {
		return fmt.Errorf("delete %v: %w", h, site.ErrNotFound)
	}
	delete(b.objs, h)
	return nil
}

func (b *Backend) Properties() site.Properties { return b.props }

func (b *Backend) Close() error { return nil }

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
