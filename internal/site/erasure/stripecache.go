package erasure

import (
	"context"
	"sync"

	"github.com/digital-embassy/embassy/internal/site"
)

// DefaultStripeCache is the default bound of the decoded stripes a Backend
// keeps for the next read (Options.StripeCache).
const DefaultStripeCache = 16 << 20

// stripeKey names one stripe of one version of one object.
type stripeKey struct {
	h site.Handle
	v versionKey
	j int64
}

// stripeEntry is a stripe being fetched (done open) or fetched.
type stripeEntry struct {
	done    chan struct{}
	shards  [][]byte // the k data shards, read only once done is closed
	err     error
	size    int64
	cached  bool // in the LRU (counted in used)
	waiters int  // reads that joined the fetch (tests)
}

// stripeCache shares stripes between reads. A stripe is the unit a shard
// is checked by (its tag covers the whole record), so a read of a range
// fetches every stripe it touches whole: k·Stripe object bytes. A restore
// reads a pack in windows that start wherever a blob starts, so each window
// began inside the stripe the previous one ended in, and that stripe was
// fetched from k members twice; concurrent readers of neighbouring small
// files fetched the same stripes at the same time. Now a stripe being
// fetched is fetched once for everyone who asks (in flight), and the
// stripes at a read's edges (the one it starts inside, its last two) are
// kept, up to max bytes, for the read that continues there, and handed to that one
// read only: a kept stripe is not a copy of the object, and a member that
// lost its shard is noticed by the read after. Only stripes whose shards
// passed their tags are shared; a failed read forgets the object.
type stripeCache struct {
	mu   sync.Mutex
	max  int64
	used int64
	m    map[stripeKey]*stripeEntry
	lru  []stripeKey // cached entries, oldest first
}

// acquire returns the entry for key and whether the caller must fetch it
// (and then call complete); nil when the cache is off.
func (c *stripeCache) acquire(key stripeKey) (e *stripeEntry, owner bool) {
	if c.max <= 0 {
		return nil, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		if e.cached {
			c.drop(key) // served once: see the type's comment
		} else {
			e.waiters++
		}
		return e, false
	}
	if c.m == nil {
		c.m = map[stripeKey]*stripeEntry{}
	}
	e = &stripeEntry{done: make(chan struct{})}
	c.m[key] = e
	return e, true
}

// wait returns the entry's shards once fetched; ok is false when the fetch
// failed (the caller fetches for itself) or ctx ended.
func (e *stripeEntry) wait(ctx context.Context) (shards [][]byte, ok bool) {
	select {
	case <-e.done:
		return e.shards, e.err == nil
	case <-ctx.Done():
		return nil, false
	}
}

// complete publishes what the owner fetched; keep puts a good stripe in
// the LRU, otherwise it is dropped once published.
func (c *stripeCache) complete(key stripeKey, e *stripeEntry, shards [][]byte, err error, keep bool) {
	if e == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e.shards, e.err = shards, err
	close(e.done)
	if c.m[key] != e {
		return // forgotten meanwhile
	}
	if err != nil || !keep {
		delete(c.m, key)
		return
	}
	for _, s := range shards {
		e.size += int64(cap(s))
	}
	e.cached = true
	c.used += e.size
	c.lru = append(c.lru, key)
	for c.used > c.max && len(c.lru) > 0 {
		c.drop(c.lru[0])
	}
}

// drop removes a cached entry.
func (c *stripeCache) drop(key stripeKey) {
	e := c.m[key]
	if e == nil || !e.cached {
		return
	}
	delete(c.m, key)
	c.used -= e.size
	for i, k := range c.lru {
		if k == key {
			c.lru = append(c.lru[:i], c.lru[i+1:]...)
			break
		}
	}
}

// forget drops every stripe of h, cached or in flight (those in flight
// still reach their waiters, but are not kept).
func (c *stripeCache) forget(h site.Handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.m {
		if key.h != h {
			continue
		}
		if e.cached {
			c.drop(key)
		} else {
			delete(c.m, key)
		}
	}
}

// joined reports how many reads wait for the fetch of key (tests).
func (c *stripeCache) joined(key stripeKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		return e.waiters
	}
	return 0
}

// cachedStripes reports how many stripes are kept and their bytes (tests).
func (c *stripeCache) cachedStripes() (n int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lru), c.used
}
