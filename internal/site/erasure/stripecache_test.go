package erasure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// stripeReads is a member that counts its stripe reads (not header reads)
// and can tamper with what it returns.
type stripeReads struct {
	site.Backend
	n      *atomic.Int64
	tamper func(off int64, b []byte) []byte // nil: honest
}

func (s stripeReads) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if off == 0 && n == headerLen {
		return s.Backend.Get(ctx, h, off, n, fn)
	}
	s.n.Add(1)
	if s.tamper == nil {
		return s.Backend.Get(ctx, h, off, n, fn)
	}
	return s.Backend.Get(ctx, h, off, n, func(r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		return fn(bytes.NewReader(s.tamper(off, b)))
	})
}

// windows reads obj the way a restore's read-ahead does: 20 KiB windows,
// each starting 3 KiB before the previous one ended (the blob that did
// not fit), and checks every byte.
func windows(t *testing.T, b site.Backend, h site.Handle, obj []byte) {
	t.Helper()
	for off := int64(0); off < int64(len(obj)); off += 17 << 10 {
		n := min(20<<10, int64(len(obj))-off)
		if got := getRange(t, b, h, off, n); !bytes.Equal(got, obj[off:off+n]) {
			t.Fatalf("window at %d differs from the object", off)
		}
	}
}

// Overlapping windows fetch each stripe once: the stripes a window ends in
// are kept for the window that starts there. Without the cache each window
// fetched the stripes of its overlap again.
func TestStripeCacheWindows(t *testing.T) {
	obj := gen(7, 200<<10) // 25 stripes of 8 KiB (k=2, 4 KiB shards)
	for _, tc := range []struct {
		name  string
		cache int64
		reads int64
	}{
		{"cache", 0, 2 * 25},
		{"off", -1, 2 * (25 + 13)}, // 12 windows, 11 of them start in a stripe already read (two of those in two)
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reads atomic.Int64
			b, _ := newGroup(t, 2, 1, Options{Stripe: 4 << 10, Hedge: -1, StripeCache: tc.cache}, func(_ int, m site.Backend) site.Backend {
				return stripeReads{Backend: m, n: &reads}
			})
			h := site.Handle{Kind: site.KindPack, Name: "w"}
			sitetest.Put(t, b, h, obj, site.PutOptions{IfAbsent: true})
			reads.Store(0)
			windows(t, b, h, obj)
			if n := reads.Load(); n != tc.reads {
				t.Fatalf("%d stripe reads from the members, want %d", n, tc.reads)
			}
			if n, bytes := b.stripes.cachedStripes(); tc.cache < 0 && n != 0 {
				t.Fatalf("cache off keeps %d stripes (%d bytes)", n, bytes)
			}
		})
	}
}

// A stripe being fetched is fetched once for every read that needs it.
func TestStripeCacheSharesInFlight(t *testing.T) {
	var reads atomic.Int64
	gate, entered := make(chan struct{}), make(chan struct{}, 16)
	var hold atomic.Bool
	b, _ := newGroup(t, 2, 1, Options{Stripe: 4 << 10, Hedge: -1}, func(i int, m site.Backend) site.Backend {
		return stripeReads{Backend: blocking{m, &hold, gate, entered}, n: &reads}
	})
	h := site.Handle{Kind: site.KindPack, Name: "f"}
	obj := gen(8, 8<<10) // one stripe
	sitetest.Put(t, b, h, obj, site.PutOptions{IfAbsent: true})
	_ = getRange(t, b, h, 0, int64(len(obj))) // learn the plan (header reads); a whole read keeps nothing
	if n, _ := b.stripes.cachedStripes(); n != 0 {
		t.Fatalf("a whole read kept %d stripes", n)
	}
	reads.Store(0)
	hold.Store(true)

	got := make([][]byte, 2)
	var wg sync.WaitGroup
	wg.Go(func() { got[0] = getRange(t, b, h, 0, int64(len(obj))) })
	<-entered // the first read is fetching the stripe
	wg.Go(func() { got[1] = getRange(t, b, h, 100, 1000) })
	key := stripeKey{h: h, v: b.mustPlan(t, h).v, j: 0}
	for b.stripes.joined(key) == 0 {
		runtime.Gosched() // until the second read waits for the first one's fetch
	}
	close(gate)
	wg.Wait()
	if !bytes.Equal(got[0], obj) || !bytes.Equal(got[1], obj[100:1100]) {
		t.Fatal("reads sharing a fetch returned other bytes")
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("%d stripe reads for two reads of one stripe at once, want 2 (k members, once)", n)
	}
}

func (b *Backend) mustPlan(t *testing.T, h site.Handle) readPlan {
	t.Helper()
	p, ok := b.plans.get(h)
	if !ok {
		t.Fatalf("no plan remembered for %v", h)
	}
	return p
}

// blocking holds stripe reads, while on, until gate closes.
type blocking struct {
	site.Backend
	on      *atomic.Bool
	gate    chan struct{}
	entered chan struct{}
}

func (s blocking) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if s.on.Load() && !(off == 0 && n == headerLen) {
		s.entered <- struct{}{}
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Backend.Get(ctx, h, off, n, fn)
}

// A member that returns wrong bytes, or the wrong number of them, is
// refused stripe by stripe and read around with parity; what the cache
// keeps is the repaired stripe, so every window is byte-exact. A shard
// damaged at rest is reconstructed the same way.
func TestStripeCacheHostileMember(t *testing.T) {
	obj := gen(9, 200<<10)
	for _, tc := range []struct {
		name   string
		tamper func(off int64, b []byte) []byte
		damage bool
	}{
		{"flipped byte", func(_ int64, b []byte) []byte { b[len(b)/3] ^= 1; return b }, false},
		{"short", func(_ int64, b []byte) []byte { return b[:len(b)-1] }, false},
		{"long", func(_ int64, b []byte) []byte { return append(b, b...) }, false},
		{"other stripe", func(off int64, b []byte) []byte {
			if off > headerLen {
				return b // record j=0 only: a stripe from elsewhere in the shard
			}
			return bytes.Repeat([]byte{7}, len(b))
		}, false},
		{"damaged at rest", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reads atomic.Int64
			b, raw := newGroup(t, 2, 1, Options{Stripe: 4 << 10, Hedge: -1}, func(i int, m site.Backend) site.Backend {
				if i == 0 {
					return stripeReads{Backend: m, n: &reads, tamper: tc.tamper}
				}
				return m
			})
			h := site.Handle{Kind: site.KindPack, Name: "hostile"}
			sitetest.Put(t, b, h, obj, site.PutOptions{IfAbsent: true})
			if tc.damage {
				shard := sitetest.Get(t, raw[0], h)
				for j := range int64(25) {
					shard[layout{k: 2, stripe: 4 << 10}.recordOff(j)+100] ^= 0xff
				}
				if err := raw[0].Delete(t.Context(), h); err != nil {
					t.Fatal(err)
				}
				sitetest.Put(t, raw[0], h, shard, site.PutOptions{})
			}
			windows(t, b, h, obj)
			if got := getRange(t, b, h, 0, int64(len(obj))); !bytes.Equal(got, obj) {
				t.Fatal("whole read after the windows differs")
			}
		})
	}
}

// A read whose caller fails forgets the object's kept stripes, so the
// retry asks the members.
func TestStripeCacheForgetsOnFailure(t *testing.T) {
	b, _ := newGroup(t, 2, 1, Options{Stripe: 4 << 10, Hedge: -1}, nil)
	h := site.Handle{Kind: site.KindPack, Name: "x"}
	obj := gen(10, 64<<10)
	sitetest.Put(t, b, h, obj, site.PutOptions{IfAbsent: true})
	_ = getRange(t, b, h, 1000, 20000) // stripes 0-2: keeps the one it starts in and its last two
	if n, _ := b.stripes.cachedStripes(); n != 3 {
		t.Fatalf("%d stripes kept after a read of three, starting inside the first, want 3", n)
	}
	errCaller := errors.New("box did not open")
	err := b.Get(t.Context(), h, 30000, 100, func(io.Reader) error { return errCaller })
	if !errors.Is(err, errCaller) {
		t.Fatalf("Get = %v, want the caller's error", err)
	}
	if n, _ := b.stripes.cachedStripes(); n != 0 {
		t.Fatalf("%d stripes kept after a failed read, want 0", n)
	}
	if _, ok := b.plans.get(h); ok {
		t.Fatal("plan kept after a failed read")
	}
}
