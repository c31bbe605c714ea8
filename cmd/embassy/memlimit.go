package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// memFloor is the soft memory limit (Go's own memory, not the binary's
// pages) below which the collector never works harder than GOGC asks:
// peak memory of a first snapshot is pointer-free buffers (pack, chunker
// and compression buffers, ~50 MB), and collecting near this limit
// instead of at 25% growth keeps ~6 MB less garbage for no measurable
// CPU (bench/README.md, round five).
const memFloor = 64 << 20

// memHeadroom is the least growth of the heap the limit leaves between
// collections, so that a live heap near the floor never makes the
// collector run back to back.
const memHeadroom = 8 << 20

// startMemLimit sets the soft memory limit after every collection: to
// max(memFloor, live heap + max(1/8 of it, memHeadroom) + the runtime's
// non-heap memory) until the live heap is once above memFloor, and off
// from then on, where GOGC (pct) alone decides. Below the floor the limit
// is the only trigger (GOGC off): a small heap is not collected at every
// 25% of growth, which on an incremental snapshot (a live heap of 10-40
// MB) was 14 collections and a quarter of its CPU, but once memory
// reaches the floor (bench/README.md, round six). A limit that followed larger
// heaps, or came back when the heap shrank, made the first open of a
// vault of 10 million blobs (which builds its index cache, with a live
// heap going up and down) 15% more CPU: memory returned to the system
// under the limit and faulted in again at the next peak. stop ends the
// adjustments and lifts the limit (tests).
func startMemLimit(pct int) (stop func()) {
	samples := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	above := false // the live heap has been above the floor: no limit from then on
	set := func() {
		metrics.Read(samples)
		var v [6]uint64
		for i := range samples {
			if samples[i].Value.Kind() == metrics.KindUint64 {
				v[i] = samples[i].Value.Uint64()
			}
		}
		live := v[0]
		nonHeap := uint64(0)
		if heap := v[2] + v[3] + v[4] + v[5]; v[1] > heap {
			nonHeap = v[1] - heap
		}
		if live > memFloor && !above {
			above = true
			debug.SetGCPercent(pct) // before the limit goes: the heap is never without a trigger
		}
		limit := uint64(math.MaxInt64)
		if !above {
			limit = max(live+max(live/8, memHeadroom)+nonHeap, memFloor)
		}
		debug.SetMemoryLimit(int64(limit))
	}
	var stopped atomic.Bool
	set()
	if !above {
		debug.SetGCPercent(-1) // after the limit is set
	}
	var rearm func()
	rearm = func() {
		// A finalizer of an object nothing refers to runs after the next
		// collection: adjust the limit, then wait for the one after.
		runtime.SetFinalizer(new([32]byte), func(*[32]byte) {
			if !stopped.Load() {
				set()
				rearm()
			}
		})
	}
	rearm()
	return func() {
		stopped.Store(true)
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(math.MaxInt64)
	}
}
