package erasure

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// countHeaders is a member that counts the header reads it serves.
type countHeaders struct {
	site.Backend
	n *atomic.Int64
}

func (c countHeaders) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if off == 0 && n == headerLen {
		c.n.Add(1)
	}
	return c.Backend.Get(ctx, h, off, n, fn)
}

func getRange(t *testing.T, b site.Backend, h site.Handle, off, n int64) []byte {
	t.Helper()
	got, err := site.ReadRange(t.Context(), b, h, off, n)
	if err != nil {
		t.Fatalf("get %v [%d+%d]: %v", h, off, n, err)
	}
	return got
}

// Ranged reads of one pack ask the members for their headers once; a pack
// replaced through the group, and one deleted, are not read from the
// remembered version; other kinds are not remembered.
func TestPlanCache(t *testing.T) {
	var headers atomic.Int64
	b, raw := newGroup(t, 2, 1, Options{Stripe: 4 << 10}, func(_ int, m site.Backend) site.Backend {
		return countHeaders{m, &headers}
	})
	h := site.Handle{Kind: site.KindPack, Name: "p"}
	obj := gen(4, 64<<10)
	sitetest.Put(t, b, h, obj, site.PutOptions{IfAbsent: true})
	headers.Store(0)
	for off := int64(0); off < int64(len(obj)); off += 5000 {
		n := min(5000, int64(len(obj))-off)
		if got := getRange(t, b, h, off, n); !bytes.Equal(got, obj[off:off+n]) {
			t.Fatalf("range at %d differs", off)
		}
	}
	if n := headers.Load(); n == 0 || n > 3 {
		t.Fatalf("%d header reads for 14 ranged reads of one pack, want one round (at most 3)", n)
	}

	// Replaced through the group: the next read sees the new bytes.
	obj2 := gen(5, 64<<10)
	sitetest.Put(t, b, h, obj2, site.PutOptions{})
	if got := getRange(t, b, h, 100, 1000); !bytes.Equal(got, obj2[100:1100]) {
		t.Fatal("read after replacing the pack returned the old bytes")
	}

	// Shards removed behind the group's back: the stripe the last read
	// used in part is handed to one more read (the one that continues
	// there); after it, the remembered plan fails once, is forgotten, and
	// the next read names the object missing.
	for _, m := range raw {
		_ = m.Delete(t.Context(), h)
	}
	if got := getRange(t, b, h, 0, 10); !bytes.Equal(got, obj2[:10]) {
		t.Fatalf("read from the kept stripe = %q, want %q", got, obj2[:10])
	}
	if n, _ := b.stripes.cachedStripes(); n != 0 {
		t.Fatalf("%d stripes still kept after the one read they were kept for", n)
	}
	if _, err := site.ReadRange(t.Context(), b, h, 0, 10); err == nil {
		t.Fatal("read of a pack whose shards are gone succeeded")
	}
	if _, err := site.ReadRange(t.Context(), b, h, 0, 10); err == nil {
		t.Fatal("second read of a gone pack succeeded")
	}
	if _, ok := b.plans.get(h); ok {
		t.Fatal("plan of a gone pack still remembered")
	}

	idx := site.Handle{Kind: site.KindIndex, Name: "i"}
	sitetest.Put(t, b, idx, []byte("index bytes"), site.PutOptions{IfAbsent: true})
	getRange(t, b, idx, 0, 5)
	if _, ok := b.plans.get(idx); ok {
		t.Fatal("an index's plan was remembered")
	}
}

// stall is a member whose stripe reads (not header reads) block until the
// read is cancelled.
type stall struct {
	site.Backend
	on *atomic.Bool
}

func (s stall) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if s.on.Load() && !(off == 0 && n == headerLen) {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.Backend.Get(ctx, h, off, n, fn)
}

// A member that stops answering without failing is worked around by the
// late hedge: the read completes from the other members (without the
// hedge it would wait forever).
func TestLateHedge(t *testing.T) {
	var on atomic.Bool
	b, _ := newGroup(t, 2, 1, Options{Stripe: 8 << 10}, func(i int, m site.Backend) site.Backend {
		if i == 0 {
			return stall{m, &on}
		}
		return m
	})
	h := site.Handle{Kind: site.KindPack, Name: "s"}
	obj := gen(6, 100<<10)
	sitetest.Put(t, b, h, obj, site.PutOptions{IfAbsent: true})
	on.Store(true)
	if got := getRange(t, b, h, 0, int64(len(obj))); !bytes.Equal(got, obj) {
		t.Fatal("read around a stalled member differs")
	}
}
