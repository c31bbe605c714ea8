package erasure

import (
	"sync"

	"github.com/digital-embassy/embassy/internal/site"
)

// maxCachedPacks bounds the pack versions a Backend remembers (about 100
// bytes each).
const maxCachedPacks = 4096

// readPlan is what a Get needs from the shard headers: the version to read
// and the members that may hold it.
type readPlan struct {
	v    versionKey
	cand []int
}

// planCache remembers, per pack, the version the headers chose and who
// holds it. A restore reads each pack in many small ranges; asking every
// member for its header before each one was an extra round trip to all of
// them per blob. Packs are never rewritten in place; this Backend forgets a
// pack it puts or deletes, and a read that fails with a remembered plan
// forgets it, so the next read asks the members again. Every shard is
// still checked against the version's tag on every read.
type planCache struct {
	mu    sync.Mutex
	plans map[site.Handle]readPlan
}

func (c *planCache) get(h site.Handle) (readPlan, bool) {
	if h.Kind != site.KindPack {
		return readPlan{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.plans[h]
	return p, ok
}

func (c *planCache) put(h site.Handle, p readPlan) {
	if h.Kind != site.KindPack {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.plans == nil || len(c.plans) >= maxCachedPacks {
		c.plans = map[site.Handle]readPlan{} // simplest bound: start again
	}
	c.plans[h] = p
}

func (c *planCache) forget(h site.Handle) {
	c.mu.Lock()
	delete(c.plans, h)
	c.mu.Unlock()
}
