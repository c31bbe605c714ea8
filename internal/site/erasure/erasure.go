// Package erasure is a site that spreads every object over k+m member sites
// with Reed-Solomon erasure coding (klauspost/reedsolomon): any k members
// can rebuild an object, so the loss of any m members loses nothing, and
// with k >= 2 no single member holds a whole object. k = 1 gives 1+m full
// replicas.
//
// Member i stores shard i of every object under the object's own handle. A
// shard is self-describing (docs/formats/erasure.md): a header naming the
// geometry and the write it belongs to, then stripes of bounded size, each
// with a checksum so that a corrupted shard counts as missing.
//
// Writes stream the object stripe by stripe to every member at once and hold
// back each shard's last byte until the group decides: a create-only Put
// first commits one member (the lowest-numbered one still writing), which
// arbitrates between concurrent Puts, then the others. Reads fetch each
// stripe from the k fastest members, hedged with spare requests, and switch
// to parity when a member fails mid-read.
package erasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/reedsolomon"

	"github.com/digital-embassy/embassy/internal/site"
)

// DefaultStripe is the default number of bytes each shard holds per stripe:
// a Put or Get buffers a few stripes per member.
const DefaultStripe = 1 << 20

// Options tune a Backend. Zero fields take the defaults.
type Options struct {
	// Stripe is the shard bytes per stripe (default DefaultStripe); k·Stripe
	// object bytes make one stripe. It is recorded in every shard, so it
	// can change without rewriting objects.
	Stripe int
	// WriteQuorum is how many members must store their shard for a Put to
	// succeed (k..k+m; default min(k+1, k+m)). A failed Put removes what it
	// stored, except after an overwrite.
	WriteQuorum int
	// Hedge is how many members beyond k a read may ask for a stripe when
	// the k asked are late (hedgeFactor times the slowest one's usual stripe time);
	// the first k valid answers win and the rest are cancelled (default 1).
	// Negative means none.
	Hedge int
	// Prefetch is how many stripes a read fetches ahead (default 2).
	Prefetch int
	// StripeCache bounds the bytes of decoded stripes kept for the next
	// read of the same object: the stripes a read used only in part
	// (default DefaultStripeCache; negative keeps none). A stripe being
	// fetched is shared by every read that needs it either way.
	StripeCache int64
	Logger      *slog.Logger // default discards
}

// Backend is an erasure-coded group of member sites.
type Backend struct {
	members []site.Backend
	k, m    int
	enc     reedsolomon.Encoder // nil when m == 0
	props   site.Properties
	opts    Options
	log     *slog.Logger
	lat     []atomic.Int64 // per member: smoothed nanoseconds per stripe read
	plans   planCache      // per pack: the version to read and its holders
	stripes stripeCache    // stripes in flight, and those a read used in part
}

var (
	_ site.Backend = (*Backend)(nil)
	_ site.Syncer  = (*Backend)(nil)
)

// New returns a group of the k+m members, in order (member i holds shard i,
// so the order must never change for a group's lifetime), with default
// options. props supplies Name, Jurisdiction (default "multi") and Location
// (default "erasure:k+m?members=<member locations>").
func New(members []site.Backend, k, m int, props site.Properties) (*Backend, error) {
	return NewWithOptions(members, k, m, props, Options{})
}

// NewWithOptions is New with options.
func NewWithOptions(members []site.Backend, k, m int, props site.Properties, opts Options) (*Backend, error) {
	switch {
	case k < 1 || m < 0 || k+m > maxShards:
		return nil, fmt.Errorf("erasure: invalid geometry %d+%d: want k >= 1, m >= 0, k+m <= %d", k, m, maxShards)
	case len(members) != k+m:
		return nil, fmt.Errorf("erasure: %d+%d needs %d members, got %d", k, m, k+m, len(members))
	}
	if opts.Stripe == 0 {
		opts.Stripe = DefaultStripe
	}
	if opts.Stripe < 1 || opts.Stripe > maxStripe {
		return nil, fmt.Errorf("erasure: stripe size %d outside 1..%d", opts.Stripe, maxStripe)
	}
	if opts.WriteQuorum == 0 {
		opts.WriteQuorum = min(k+1, k+m)
	}
	if opts.WriteQuorum < k || opts.WriteQuorum > k+m {
		return nil, fmt.Errorf("erasure: write quorum %d outside %d..%d", opts.WriteQuorum, k, k+m)
	}
	if opts.Hedge == 0 {
		opts.Hedge = 1
	}
	opts.Hedge = max(opts.Hedge, 0)
	if opts.Prefetch < 1 {
		opts.Prefetch = 2
	}
	if opts.StripeCache == 0 {
		opts.StripeCache = DefaultStripeCache
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var enc reedsolomon.Encoder
	if m > 0 {
		var err error
		enc, err = reedsolomon.New(k, m)
		if err != nil {
			return nil, fmt.Errorf("erasure: %w", err)
		}
	}
	conns, lock := 0, true
	locs := make([]string, len(members))
	for i, mb := range members {
		p := mb.Properties()
		if conns == 0 || p.Connections < conns {
			conns = p.Connections
		}
		lock = lock && p.ObjectLock
		locs[i] = p.Location
	}
	if props.Jurisdiction == "" {
		props.Jurisdiction = "multi"
	}
	if props.Location == "" {
		props.Location = fmt.Sprintf("erasure:%d+%d?members=%s", k, m, strings.Join(locs, ","))
	}
	props.Connections = max(conns, 1)
	props.ObjectLock = lock
	props.ReadAlign = int64(k) * int64(opts.Stripe) // objects written since with another stripe are read correctly, only less aligned
	return &Backend{
		members: members, k: k, m: m, enc: enc, props: props, opts: opts, log: log,
		lat: make([]atomic.Int64, k+m), stripes: stripeCache{max: opts.StripeCache},
	}, nil
}

// Members returns the member sites, in shard order.
func (b *Backend) Members() []site.Backend { return b.members }

// Geometry returns k and m.
func (b *Backend) Geometry() (k, m int) { return b.k, b.m }

func (b *Backend) Properties() site.Properties { return b.props }

// Close closes every member.
func (b *Backend) Close() error {
	errs := make([]error, len(b.members))
	for i, mb := range b.members {
		if err := mb.Close(); err != nil {
			errs[i] = fmt.Errorf("member %d: %w", i, err)
		}
	}
	return errors.Join(errs...)
}

// Sync makes deferred writes durable at every member.
func (b *Backend) Sync(ctx context.Context) error {
	return b.each(func(i int, mb site.Backend) error { return site.Sync(ctx, mb) })
}

// each runs fn for every member concurrently and joins the errors.
func (b *Backend) each(fn func(i int, mb site.Backend) error) error {
	errs := make([]error, len(b.members))
	var wg sync.WaitGroup
	for i, mb := range b.members {
		wg.Go(func() {
			if err := fn(i, mb); err != nil {
				errs[i] = fmt.Errorf("member %d (%s): %w", i, mb.Properties().Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func check(ctx context.Context, h site.Handle) error {
	if err := h.Validate(); err != nil {
		return site.Permanent(err)
	}
	return ctx.Err()
}
