package server

import (
	"container/list"
	"sync"

	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/site"
)

// outboardCache keeps the BLAKE3 outboards of content-addressed objects,
// computed at upload or at the first proof, least recently used first out.
// It is only a speed-up: a missing entry is rebuilt from the object.
type outboardCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	lru   *list.List // of *cacheEntry, front = newest
	m     map[site.Handle]*list.Element
}

type cacheEntry struct {
	h  site.Handle
	ob *proof.Outboard
}

func newOutboardCache(max int64) *outboardCache {
	return &outboardCache{max: max, lru: list.New(), m: map[site.Handle]*list.Element{}}
}

func (c *outboardCache) get(h site.Handle) *proof.Outboard {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[h]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cacheEntry).ob
	}
	return nil
}

func (c *outboardCache) put(h site.Handle, ob *proof.Outboard) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(h)
	if ob.Bytes() > c.max {
		return
	}
	c.m[h] = c.lru.PushFront(&cacheEntry{h, ob})
	c.bytes += ob.Bytes()
	for c.bytes > c.max {
		c.dropLocked(c.lru.Back().Value.(*cacheEntry).h)
	}
}

func (c *outboardCache) drop(h site.Handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(h)
}

func (c *outboardCache) dropLocked(h site.Handle) {
	if e, ok := c.m[h]; ok {
		c.bytes -= e.Value.(*cacheEntry).ob.Bytes()
		c.lru.Remove(e)
		delete(c.m, h)
	}
}
