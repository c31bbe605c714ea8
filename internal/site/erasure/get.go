package erasure

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

// Stat returns the size of the newest readable version of h.
func (b *Backend) Stat(ctx context.Context, h site.Handle) (site.Info, error) {
	if err := check(ctx, h); err != nil {
		return site.Info{}, err
	}
	hs := b.headers(ctx, h, false)
	v, ok := hs.best(b.k)
	if !ok {
		return site.Info{}, b.missing(ctx, "stat", h, hs)
	}
	return site.Info{Handle: h, Size: v.Size, ModTime: time.Unix(0, v.Time)}, nil
}

// Get streams [off, off+n) of h, fetching each stripe from the k fastest
// members that hold the newest readable version.
func (b *Backend) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if err := check(ctx, h); err != nil {
		return err
	}
	plan, cached := b.plans.get(h)
	if !cached {
		hs := b.headers(ctx, h, false)
		v, ok := hs.best(b.k)
		if !ok {
			return b.missing(ctx, "get", h, hs)
		}
		plan.v = v
		for i, hd := range hs.at {
			if hd.key() == v {
				plan.cand = append(plan.cand, i)
			}
		}
		plan.cand = append(plan.cand, hs.pending...) // unasked members may hold it too
		slices.Sort(plan.cand)
	}
	v := plan.v
	end := v.Size
	if n > 0 {
		end = off + n
	}
	if off < 0 || off > v.Size || end > v.Size {
		if cached {
			b.plans.forget(h)
		}
		return fmt.Errorf("get %v: range %d+%d of %d bytes: %w", h, off, n, v.Size, site.ErrRange)
	}
	g := &getter{b: b, h: h, v: v, l: layout{k: v.K, stripe: v.S, size: v.Size}, bad: make([]bool, len(b.members)), cand: plan.cand}

	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	sr := g.stream(gctx, &wg, off, end)
	err := fn(sr)
	cancel()
	wg.Wait()
	if err != nil {
		b.plans.forget(h) // ask the members again next time
		b.stripes.forget(h)
	} else if !cached {
		b.plans.put(h, plan)
	}
	return err
}

// getter reads one version of one object.
type getter struct {
	b    *Backend
	h    site.Handle
	v    versionKey
	l    layout
	cand []int // members that may hold v
	mu   sync.Mutex
	bad  []bool // members that failed during this read
}

// stripeResult is one stripe's data shards, or why they could not be had.
type stripeResult struct {
	shards [][]byte
	err    error
}

// stream returns a reader of [off, end), stripe by stripe, with up to
// Prefetch stripes fetched ahead by a goroutine counted in wg. The reader
// copies straight out of the checked shards into the caller's buffer: an
// io.Pipe here cost a goroutine hand-off per shard on top of the copy.
func (g *getter) stream(ctx context.Context, wg *sync.WaitGroup, off, end int64) *stripeReader {
	width := int64(g.l.k) * g.l.stripe
	sr := &stripeReader{g: g, ctx: ctx, off: off, end: end, width: width}
	if off == end {
		return sr
	}
	first, last := off/width, (end-1)/width
	sr.j, sr.last = first, last
	futures := make(chan chan stripeResult, g.b.opts.Prefetch)
	sr.futures = futures
	wg.Go(func() {
		defer close(futures)
		for j := first; j <= last; j++ {
			f := make(chan stripeResult, 1)
			select {
			case futures <- f:
			case <-ctx.Done():
				return
			}
			// Keep the stripe this read starts inside and its last two:
			// the next read of the object usually starts a little before
			// this one ends (a restore's read-ahead window begins at the
			// blob that did not fit), which may be in either. A read to
			// the object's end keeps none of its last.
			keep := j*width < off || (end < g.l.size && (j+1)*width > end-width)
			go func() {
				shards, err := g.shared(ctx, j, keep)
				f <- stripeResult{shards, err}
			}()
		}
	})
	return sr
}

// stripeReader reads a getter's range out of its stripes, in order.
type stripeReader struct {
	g        *getter
	ctx      context.Context
	off, end int64
	width    int64
	j, last  int64 // next stripe to take; the range's last
	futures  <-chan chan stripeResult
	pend     [][]byte // the current stripe's bytes in the range, not yet read
	err      error
}

func (r *stripeReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.pend) == 0 {
			if n > 0 {
				return n, nil // hand over what is here before waiting
			}
			if err := r.next(); err != nil {
				return 0, err
			}
			continue
		}
		c := copy(p[n:], r.pend[0])
		n += c
		if r.pend[0] = r.pend[0][c:]; len(r.pend[0]) == 0 {
			r.pend = r.pend[1:]
		}
	}
	return n, nil
}

// next waits for the next stripe and queues its bytes in the range.
func (r *stripeReader) next() error {
	if r.err != nil {
		return r.err
	}
	if r.off == r.end || r.j > r.last {
		r.err = io.EOF
		return r.err
	}
	var res stripeResult
	select {
	case f, ok := <-r.futures:
		if !ok {
			r.err = r.ctx.Err()
			if r.err == nil {
				r.err = io.ErrUnexpectedEOF
			}
			return r.err
		}
		res = <-f
	case <-r.ctx.Done():
		r.err = r.ctx.Err()
		return r.err
	}
	if res.err != nil {
		r.err = res.err
		return r.err
	}
	j, l := r.j, r.g.l
	r.j++
	s := l.shardLen(j)
	base := j * r.width
	r.pend = r.pend[:0]
	for d, sh := range res.shards {
		lo, hi := base+int64(d)*s, min(base+int64(d+1)*s, base+l.data(j))
		lo, hi = max(lo, r.off), min(hi, r.end)
		if lo >= hi {
			continue
		}
		start := lo - base - int64(d)*s
		r.pend = append(r.pend, sh[start:start+hi-lo])
	}
	return nil
}

// order returns the members to ask, most promising first: data shards avoid
// decoding, so parity members count as twice as slow.
func (g *getter) order() []int {
	g.mu.Lock()
	var out []int
	for _, i := range g.cand {
		if !g.bad[i] {
			out = append(out, i)
		}
	}
	g.mu.Unlock()
	score := func(i int) int64 {
		s := g.b.lat[i].Load()
		if i >= g.l.k {
			s *= 2
		}
		return s
	}
	slices.SortStableFunc(out, func(a, b int) int {
		if c := cmp.Compare(score(a), score(b)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return out
}

func (g *getter) fail(ctx context.Context, i int, err error) {
	g.mu.Lock()
	g.bad[i] = true
	g.mu.Unlock()
	g.b.log.WarnContext(ctx, "erasure member failed a read",
		slog.String("site", g.b.props.Name), slog.String("object", g.h.String()),
		slog.Int("member", i), slog.Any("err", err))
}

// shared returns stripe j from the stripe cache, or fetches it there for
// every read that asks meanwhile (and keeps it when keep is set).
func (g *getter) shared(ctx context.Context, j int64, keep bool) ([][]byte, error) {
	key := stripeKey{h: g.h, v: g.v, j: j}
	e, owner := g.b.stripes.acquire(key)
	if !owner {
		if shards, ok := e.wait(ctx); ok {
			return shards, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return g.stripe(ctx, j) // the other read failed: try for ourselves
	}
	shards, err := g.stripe(ctx, j)
	g.b.stripes.complete(key, e, shards, err, keep)
	return shards, err
}

// stripe returns the k data shards of stripe j, asking k+Hedge members at
// once, more as some fail, and decoding when parity stood in.
func (g *getter) stripe(ctx context.Context, j int64) ([][]byte, error) {
	k := g.l.k
	s := g.l.shardLen(j)
	order := g.order()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		i   int
		buf []byte
		err error
	}
	ch := make(chan answer, len(order))
	launched, inflight := 0, 0
	launch := func() bool {
		if launched == len(order) {
			return false
		}
		i := order[launched]
		launched++
		inflight++
		go func() {
			buf, err := g.read(ctx, i, j, s)
			ch <- answer{i, buf, err}
		}()
		return true
	}
	for range min(k, len(order)) {
		launch()
	}
	// Hedge late: a member beyond k is asked only when the k asked have
	// not all answered within hedgeFactor times the slowest one's usual time. Asking
	// k+1 members for every stripe moved 1.5x the bytes (k=2) through TLS
	// on both ends for a tail that a healthy group rarely has.
	hedges := g.b.opts.Hedge
	var hedge <-chan time.Time
	if hedges > 0 && launched < len(order) {
		t := time.NewTimer(g.hedgeDelay(order[:launched]))
		defer t.Stop()
		hedge = t.C
	}
	shards := make([][]byte, len(g.b.members))
	var errs []error
	for got := 0; got < k; {
		if inflight == 0 && !launch() {
			return nil, fmt.Errorf("get %v: stripe %d: %d of %d shards readable, need %d: %w",
				g.h, j, got, len(shards), k, errors.Join(errs...))
		}
		var a answer
		select {
		case a = <-ch:
		case <-hedge:
			hedge = nil
			if hedges--; launch() && hedges > 0 && launched < len(order) {
				t := time.NewTimer(g.hedgeDelay(order[:launched]))
				defer t.Stop()
				hedge = t.C
			}
			continue
		}
		inflight--
		if a.err != nil {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			errs = append(errs, fmt.Errorf("member %d: %w", a.i, a.err))
			g.fail(ctx, a.i, a.err)
			launch()
			continue
		}
		shards[a.i] = a.buf
		got++
	}
	cancel()
	for i := range k {
		if shards[i] == nil {
			if err := g.b.enc.ReconstructData(shards); err != nil {
				return nil, fmt.Errorf("get %v: stripe %d: decode: %w", g.h, j, err)
			}
			break
		}
	}
	return shards[:k], nil
}

// Bounds of the hedge delay: reads with no latency yet wait minHedge
// (the first stripes of a process), slow ones at most maxHedge.
const (
	minHedge = 50 * time.Millisecond
	maxHedge = 2 * time.Second
)

// hedgeFactor times the slowest member's smoothed stripe time is how late
// the k asked may be before one more is asked. At 2x, on a loaded machine
// (load 8-12, two cores), a healthy 2+1 group's restore asked the parity
// member so often that the daemons sent 1.30 GiB per GiB restored, against
// 1.09 with no hedge at all; a stalled member is still read around.
const hedgeFactor = 4

// hedgeDelay is how long to wait for members before asking one more:
// hedgeFactor times the slowest one's smoothed stripe read time, within
// bounds.
func (g *getter) hedgeDelay(members []int) time.Duration {
	var slowest int64
	for _, i := range members {
		slowest = max(slowest, g.b.lat[i].Load())
	}
	return min(max(hedgeFactor*time.Duration(slowest), minHedge), maxHedge)
}

// read fetches and checks member i's record of stripe j.
func (g *getter) read(ctx context.Context, i int, j, s int64) ([]byte, error) {
	start := time.Now()
	buf := make([]byte, s+tagLen)
	err := g.b.members[i].Get(ctx, g.h, g.l.recordOff(j), s+tagLen, func(r io.Reader) error {
		_, err := io.ReadFull(r, buf)
		return err
	})
	if err != nil {
		return nil, err
	}
	hd := header{K: g.v.K, M: g.v.M, Index: i, Stripe: g.v.S, Size: g.v.Size, Time: g.v.Time, ID: g.v.ID}
	if tag(hd.marshal(), j, buf[:s]) != [tagLen]byte(buf[s:]) {
		return nil, fmt.Errorf("stripe %d: %w", j, errCorrupt)
	}
	// Smoothed latency, so later reads prefer the faster members.
	d := time.Since(start).Nanoseconds()
	old := g.b.lat[i].Load()
	g.b.lat[i].Store(old - old/8 + d/8)
	return buf[:s], nil
}

var errCorrupt = errors.New("shard checksum mismatch")
