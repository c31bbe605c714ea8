package erasure

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// DebrisAge is how old a shard of an unreadable version (fewer than k
// shards) must be before a create-only Put treats it as left by an
// interrupted write and removes it. A younger one may belong to a Put still
// in progress.
var DebrisAge = 15 * time.Minute

// Put streams shard i of p to member i. See the package documentation for
// how the group commits; it succeeds once WriteQuorum members stored their
// shard, and a failed create-only Put removes the shards it stored.
func (b *Backend) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	if err := check(ctx, h); err != nil {
		return err
	}
	if n := p.Len(); n < 0 || n > maxObject {
		return site.Permanent(fmt.Errorf("put %v: payload length %d outside 0..%d", h, n, int64(maxObject)))
	}
	b.plans.forget(h)
	b.stripes.forget(h)
	defer b.stripes.forget(h)
	defer b.plans.forget(h)
	err := b.put(ctx, h, p, opts)
	if errors.Is(err, errDebris) {
		err = b.put(ctx, h, p, opts) // once, after removing what an interrupted write left
	}
	return err
}

var errDebris = errors.New("removed shards of an interrupted write")

func (b *Backend) put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	hdr := header{K: b.k, M: b.m, Stripe: int64(b.opts.Stripe), Size: p.Len(), Time: time.Now().UnixNano()}
	rand.Read(hdr.ID[:])
	n := len(b.members)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gates := make([]*gate, n)
	done := make([]chan struct{}, n)
	errs := make([]error, n)
	for i, mb := range b.members {
		gates[i], done[i] = newGate(), make(chan struct{})
		sh := hdr
		sh.Index = i
		go func() {
			defer close(done[i])
			errs[i] = mb.Put(pctx, h, shardPayload{b: b, ctx: pctx, src: p, hdr: sh, gate: gates[i]}, opts)
		}()
	}
	// Wait until every member either holds all but the last byte or ended.
	var alive []int
	stored := 0
	for i := range n {
		select {
		case <-gates[i].arrived:
		case <-done[i]:
		}
		select {
		case <-done[i]:
			if errs[i] == nil {
				stored++ // took the shard without reading it, like a discarding site
			}
		default:
			alive = append(alive, i)
		}
	}
	abort := func(from int) {
		for _, i := range alive[from:] {
			gates[i].decide(false)
		}
		for i := range n {
			<-done[i]
		}
	}
	if stored+len(alive) < b.opts.WriteQuorum {
		abort(0)
		return b.putError(ctx, h, errs, stored)
	}
	next := 0
	if opts.IfAbsent {
		// Commit one member first: concurrent Puts meet there and one wins.
		claimed := false
		for next < len(alive) && !claimed {
			i := alive[next]
			next++
			gates[i].decide(true)
			<-done[i]
			switch {
			case errs[i] == nil:
				claimed = true
			case errors.Is(errs[i], site.ErrExists):
				abort(next)
				return b.lostClaim(ctx, h, i, errs[i])
			}
		}
		if !claimed {
			abort(next)
			return b.putError(ctx, h, errs, 0)
		}
	}
	for _, i := range alive[next:] {
		gates[i].decide(true)
	}
	for i := range n {
		<-done[i]
	}
	var ok []int
	for i, err := range errs {
		if err == nil {
			ok = append(ok, i)
		}
	}
	if len(ok) < b.opts.WriteQuorum {
		if opts.IfAbsent {
			for _, i := range ok {
				_ = b.members[i].Delete(context.WithoutCancel(ctx), h)
			}
		}
		return b.putError(ctx, h, errs, len(ok))
	}
	if len(ok) < n {
		b.log.WarnContext(ctx, "erasure put missed members",
			slog.String("site", b.props.Name), slog.String("object", h.String()),
			slog.Int("stored", len(ok)), slog.Int("members", n), slog.Any("err", errors.Join(errs...)))
	}
	return nil
}

func (b *Backend) putError(ctx context.Context, h site.Handle, errs []error, stored int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %v: %w", h, err)
	}
	var all []error
	for i, err := range errs {
		if err != nil && !errors.Is(err, errAborted) {
			all = append(all, fmt.Errorf("member %d: %w", i, err))
		}
	}
	return fmt.Errorf("put %v: %d of %d members stored their shard, need %d: %w",
		h, stored, len(errs), b.opts.WriteQuorum, errors.Join(all...))
}

// lostClaim decides what a create-only Put that found member i taken
// reports: ErrExists if the object is readable (or becomes readable: a
// concurrent Put that won commits its other members right after), errDebris
// after removing an old unreadable version, or an error saying to retry.
func (b *Backend) lostClaim(ctx context.Context, h site.Handle, i int, cause error) error {
	wait := 5 * time.Millisecond
	for try := 0; ; try++ {
		hs := b.headers(ctx, h, true)
		if _, ok := hs.best(b.k); ok {
			return fmt.Errorf("put %v: %w", h, site.ErrExists)
		}
		holder, ok := hs.at[i]
		if !ok {
			if try < 11 && len(hs.failed) == 0 {
				// Gone (its Put failed and cleaned up) or unreadable: once more.
				return errDebris
			}
			return fmt.Errorf("put %v: member %d: %w", h, i, cause)
		}
		if age := time.Since(time.Unix(0, holder.Time)); age > DebrisAge {
			b.log.WarnContext(ctx, "erasure put removes an interrupted write",
				slog.String("site", b.props.Name), slog.String("object", h.String()), slog.Duration("age", age))
			for j, hd := range hs.at {
				if hd.ID == holder.ID {
					_ = b.members[j].Delete(ctx, h)
				}
			}
			return errDebris
		}
		if try == 11 { // about 10 s of waiting
			return fmt.Errorf("put %v: member %d holds part of another write from %v, not readable yet; retry later", h, i, time.Unix(0, holder.Time).UTC().Format(time.RFC3339))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("put %v: %w", h, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}
