package sitetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// Hostile wraps a Backend and plays a hostile host: it serves objects it
// planted (minted key records, substituting packs and indexes, replayed or
// resurrected manifests, a whole forged vault), hides objects (the newest
// epoch record, the newest manifests or state), replaces an object's bytes,
// and serves objects far larger than any the home writes, without holding
// them in memory. Writes from the home pass through to the wrapped backend.
// Its methods are safe for concurrent use.
type Hostile struct {
	site.Backend
	mu      sync.Mutex
	planted map[site.Handle][]byte
	hidden  []func(site.Handle) bool
	huge    map[site.Handle]int64
	served  map[site.Handle]int // Gets of planted, replaced or huge objects
	forged  site.Backend
}

// NewHostile returns a Hostile around b that behaves honestly until told.
func NewHostile(b site.Backend) *Hostile {
	return &Hostile{Backend: b, planted: map[site.Handle][]byte{}, huge: map[site.Handle]int64{}, served: map[site.Handle]int{}}
}

// Unwrap returns the wrapped backend.
func (h *Hostile) Unwrap() site.Backend { return h.Backend }

// Plant serves data under hd (listed, readable) in place of whatever the
// wrapped backend holds there: a new object, or a substitute for one.
func (h *Hostile) Plant(hd site.Handle, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.planted[hd] = bytes.Clone(data)
}

// Hide makes matching objects vanish from List, Get and Stat.
func (h *Hostile) Hide(match func(site.Handle) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hidden = append(h.hidden, match)
}

// Huge serves hd as an object of size bytes (zeros), generated on the fly.
func (h *Hostile) Huge(hd site.Handle, size int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.huge[hd] = size
}

// Forge serves every read from forged (a vault the host built) instead of
// the wrapped backend; writes still go to the wrapped backend.
func (h *Hostile) Forge(forged site.Backend) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forged = forged
}

// Served returns how many times a planted, replaced or huge object was read.
func (h *Hostile) Served(hd site.Handle) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.served[hd]
}

// Reset makes the site honest again.
func (h *Hostile) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.planted, h.huge, h.hidden, h.forged = map[site.Handle][]byte{}, map[site.Handle]int64{}, nil, nil
}

func (h *Hostile) reader() site.Backend {
	if h.forged != nil {
		return h.forged
	}
	return h.Backend
}

func (h *Hostile) isHidden(hd site.Handle) bool {
	for _, m := range h.hidden {
		if m(hd) {
			return true
		}
	}
	return false
}

// Get implements site.Backend.
func (h *Hostile) Get(ctx context.Context, hd site.Handle, off, n int64, fn func(io.Reader) error) error {
	h.mu.Lock()
	data, planted := h.planted[hd]
	size, huge := h.huge[hd]
	hidden := h.isHidden(hd)
	if planted || huge {
		h.served[hd]++
	}
	b := h.reader()
	h.mu.Unlock()
	switch {
	case hidden:
		return fmt.Errorf("%s: %w", hd, site.ErrNotFound)
	case huge:
		if n <= 0 || off+n > size {
			n = size - off
		}
		return fn(io.LimitReader(zeros{}, n))
	case planted:
		if off > int64(len(data)) {
			return fmt.Errorf("%s: %w", hd, site.ErrRange)
		}
		end := int64(len(data))
		if n > 0 && off+n < end {
			end = off + n
		} else if n > 0 && off+n > end {
			return fmt.Errorf("%s: %w", hd, site.ErrRange)
		}
		return fn(bytes.NewReader(data[off:end]))
	}
	return b.Get(ctx, hd, off, n, fn)
}

// Stat implements site.Backend.
func (h *Hostile) Stat(ctx context.Context, hd site.Handle) (site.Info, error) {
	h.mu.Lock()
	data, planted := h.planted[hd]
	size, huge := h.huge[hd]
	hidden := h.isHidden(hd)
	b := h.reader()
	h.mu.Unlock()
	switch {
	case hidden:
		return site.Info{}, fmt.Errorf("%s: %w", hd, site.ErrNotFound)
	case huge:
		return site.Info{Handle: hd, Size: size, ModTime: time.Now()}, nil
	case planted:
		return site.Info{Handle: hd, Size: int64(len(data)), ModTime: time.Now()}, nil
	}
	return b.Stat(ctx, hd)
}

// List implements site.Backend.
func (h *Hostile) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	h.mu.Lock()
	b := h.reader()
	var extra []site.Info
	for hd, d := range h.planted {
		if hd.Kind == k && !h.isHidden(hd) {
			extra = append(extra, site.Info{Handle: hd, Size: int64(len(d))})
		}
	}
	for hd, n := range h.huge {
		if _, dup := h.planted[hd]; hd.Kind == k && !dup && !h.isHidden(hd) {
			extra = append(extra, site.Info{Handle: hd, Size: n})
		}
	}
	h.mu.Unlock()
	seen := map[site.Handle]bool{}
	for _, fi := range extra {
		seen[fi.Handle] = true
		if err := fn(fi); err != nil {
			return err
		}
	}
	return b.List(ctx, k, func(fi site.Info) error {
		h.mu.Lock()
		skip := seen[fi.Handle] || h.isHidden(fi.Handle)
		h.mu.Unlock()
		if skip {
			return nil
		}
		return fn(fi)
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

var _ site.Backend = (*Hostile)(nil)
