// Package retry is a site decorator that retries failed operations with
// exponential backoff and jitter. Permanent errors (site.IsPermanent) and
// context errors are returned at once.
package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// Options tune the retries. Zero fields take the defaults.
type Options struct {
	Attempts int           // total tries per operation; default 5
	Base     time.Duration // first backoff; default 200ms
	Max      time.Duration // backoff ceiling; default 10s
	Logger   *slog.Logger  // logs each retry at Warn; default discards
}

// Backend retries the operations of the backend it wraps.
type Backend struct {
	site.Backend
	opts Options
	log  *slog.Logger
}

var _ site.Backend = (*Backend)(nil)

// New wraps b.
func New(b site.Backend, opts Options) *Backend {
	if opts.Attempts < 1 {
		opts.Attempts = 5
	}
	if opts.Base <= 0 {
		opts.Base = 200 * time.Millisecond
	}
	if opts.Max <= 0 {
		opts.Max = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backend{Backend: b, opts: opts, log: log}
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() site.Backend { return b.Backend }

// backoff returns the wait before try n+1 (n >= 1): Base·2^(n-1), capped at
// Max, then jittered uniformly into [d/2, d].
func (b *Backend) backoff(n int) time.Duration {
	d := b.opts.Base << min(n-1, 30)
	if d > b.opts.Max || d <= 0 {
		d = b.opts.Max
	}
	return d/2 + rand.N(d/2+1)
}

// do runs fn until it succeeds, fails permanently, ctx ends or the attempts
// run out. fn learns the attempt number (1-based).
func (b *Backend) do(ctx context.Context, op string, h site.Handle, fn func(attempt int) error) error {
	var err error
	for n := 1; ; n++ {
		err = fn(n)
		if err == nil || site.IsPermanent(err) || ctx.Err() != nil || n >= b.opts.Attempts {
			break
		}
		wait := b.backoff(n)
		b.log.WarnContext(ctx, "retrying site operation",
			slog.String("site", b.Properties().Name), slog.String("op", op),
			slog.String("object", h.String()), slog.Int("attempt", n),
			slog.Duration("wait", wait), slog.Any("err", err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after %d attempts, last error: %v)", ctx.Err(), n, err)
		case <-t.C:
		}
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
	}
	return err
}

// Put retries p, which the Payload contract makes replayable. If a retried
// create-only Put finds the object present, an earlier try may have stored
// it and lost the reply, so Put compares the stored bytes with p and reports
// success if they are identical: a retried create-only Put cannot tell its
// own earlier write from someone else's identical one.
func (b *Backend) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	return b.do(ctx, "put", h, func(n int) error {
		err := b.Backend.Put(ctx, h, p, opts)
		if n > 1 && opts.IfAbsent && errors.Is(err, site.ErrExists) {
			same, cerr := b.stored(ctx, h, p)
			switch {
			case cerr != nil:
				// Not permanent (%v), so that the next try looks again.
				return fmt.Errorf("put %v: compare with stored object: %v", h, cerr)
			case same:
				return nil
			}
		}
		return err
	})
}

// stored reports whether h holds exactly the bytes of p, itself retrying.
func (b *Backend) stored(ctx context.Context, h site.Handle, p site.Payload) (bool, error) {
	fi, err := b.Stat(ctx, h)
	if err != nil || fi.Size != p.Len() {
		return false, err
	}
	same := false
	err = b.Get(ctx, h, 0, 0, func(r io.Reader) error {
		var err error
		same, err = equal(r, p.NewReader())
		return err
	})
	return same, err
}

func equal(a, b io.Reader) (bool, error) {
	bufA, bufB := make([]byte, 32<<10), make([]byte, 32<<10)
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA := errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF)
		endB := errors.Is(errB, io.EOF) || errors.Is(errB, io.ErrUnexpectedEOF)
		switch {
		case errA != nil && !endA:
			return false, errA
		case errB != nil && !endB:
			return false, errB
		case endA || endB:
			return endA == endB, nil
		}
	}
}

// Get retries, running fn again on each try as the contract allows. An
// error fn returns while its reader is healthy is fn's own (say, failed
// authentication) and ends the Get at once; an error it passes on from the
// reader is retried.
func (b *Backend) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	var fnErr error
	err := b.do(ctx, "get", h, func(int) error {
		return b.Backend.Get(ctx, h, off, n, func(r io.Reader) error {
			tr := &trackReader{r: r}
			err := fn(tr)
			if err != nil && tr.err == nil {
				fnErr = err
				return site.Permanent(err)
			}
			return err
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// trackReader records the first read error other than io.EOF.
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

func (b *Backend) Stat(ctx context.Context, h site.Handle) (fi site.Info, err error) {
	err = b.do(ctx, "stat", h, func(int) error {
		fi, err = b.Backend.Stat(ctx, h)
		return err
	})
	return fi, err
}

// List retries a failed listing, passing fn only objects it has not seen.
// An error from fn itself ends the List at once.
func (b *Backend) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	seen := map[string]bool{}
	var fnErr error
	err := b.do(ctx, "list", site.Handle{Kind: k}, func(int) error {
		err := b.Backend.List(ctx, k, func(fi site.Info) error {
			if seen[fi.Handle.Name] {
				return nil
			}
			seen[fi.Handle.Name] = true
			if err := fn(fi); err != nil {
				fnErr = err
				return site.Permanent(err)
			}
			return nil
		})
		if fnErr != nil {
			return site.Permanent(fnErr)
		}
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Delete retries. If an earlier try removed the object but its reply was
// lost, a later try reports ErrNotFound: callers should treat ErrNotFound
// from Delete as "gone".
func (b *Backend) Delete(ctx context.Context, h site.Handle) error {
	return b.do(ctx, "delete", h, func(int) error { return b.Backend.Delete(ctx, h) })
}
