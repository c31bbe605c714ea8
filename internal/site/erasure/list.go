package erasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// List lists the objects that at least k members hold a shard of. It
// tolerates up to m members failing to list, and reads one shard header per
// object for its size.
func (b *Backend) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	if err := (site.Handle{Kind: k, Name: "x"}).Validate(); err != nil {
		return site.Permanent(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var (
		mu      sync.Mutex
		holders = map[string][]int{}
		failed  []error
	)
	_ = b.each(func(i int, mb site.Backend) error {
		var names []string
		err := mb.List(ctx, k, func(fi site.Info) error {
			names = append(names, fi.Handle.Name)
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = append(failed, fmt.Errorf("member %d: %w", i, err))
			return nil
		}
		for _, n := range names {
			holders[n] = append(holders[n], i)
		}
		return nil
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failed) > b.m {
		return fmt.Errorf("list %v: %d of %d members failed: %w", k, len(failed), len(b.members), errors.Join(failed...))
	}
	var names []string
	for n, hs := range holders {
		if len(hs) >= b.k {
			names = append(names, n)
		}
	}
	infos := make([]site.Info, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, b.props.Connections)
	var wg sync.WaitGroup
	for x, name := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			h := site.Handle{Kind: k, Name: name}
			for _, i := range holders[name] {
				hd, err := readHeader(ctx, b.members[i], h, i)
				if err == nil {
					infos[x] = site.Info{Handle: h, Size: hd.Size, ModTime: time.Unix(0, hd.Time)}
					return
				}
				errs[x] = err
			}
		})
	}
	wg.Wait()
	for x, fi := range infos {
		if fi.Handle.Name == "" {
			if errors.Is(errs[x], site.ErrNotFound) {
				continue // deleted meanwhile
			}
			return fmt.Errorf("list %v: read header of %s: %w", k, names[x], errs[x])
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes h from every member. It succeeds once fewer than k shards
// can remain, so that the object can no longer be read.
func (b *Backend) Delete(ctx context.Context, h site.Handle) error {
	if err := check(ctx, h); err != nil {
		return err
	}
	b.plans.forget(h)
	b.stripes.forget(h)
	defer b.stripes.forget(h)
	defer b.plans.forget(h)
	errs := make([]error, len(b.members))
	_ = b.each(func(i int, mb site.Backend) error {
		errs[i] = mb.Delete(ctx, h)
		return nil
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %v: %w", h, err)
	}
	deleted := 0
	var failed []error
	for i, err := range errs {
		switch {
		case err == nil:
			deleted++
		case errors.Is(err, site.ErrNotFound):
		default:
			failed = append(failed, fmt.Errorf("member %d: %w", i, err))
		}
	}
	switch {
	case len(failed) >= b.k:
		return fmt.Errorf("delete %v: %d members failed: %w", h, len(failed), errors.Join(failed...))
	case deleted == 0:
		return fmt.Errorf("delete %v: %w", h, site.ErrNotFound)
	}
	if len(failed) > 0 {
		b.log.WarnContext(ctx, "erasure delete left shards", slog.String("site", b.props.Name),
			slog.String("object", h.String()), slog.Any("err", errors.Join(failed...)))
	}
	return nil
}
