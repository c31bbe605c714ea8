package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The soft limit sits at the floor for a small heap and follows a large
// live heap with headroom, so that the collector never runs back to back.
func TestMemLimitFollowsLiveHeap(t *testing.T) {
	stop := startMemLimit()
	defer stop()
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	settle := func(want func(int64) bool) int64 {
		var l int64
		for range 50 {
			runtime.GC()
			time.Sleep(10 * time.Millisecond) // the finalizer runs after the collection
			if l = limit(); want(l) {
				break
			}
		}
		return l
	}
	if l := settle(func(l int64) bool { return l == memFloor }); l != memFloor {
		t.Fatalf("limit with a small heap: %d, want the floor %d", l, memFloor)
	}
	live := make([][]byte, 0, 200)
	for range cap(live) {
		live = append(live, make([]byte, 1<<20))
	}
	const big = 200 << 20
	l := settle(func(l int64) bool { return l > big+big/8 })
	if l <= big+big/8 {
		t.Fatalf("limit with a live heap of 200 MiB: %d, want at least %d", l, big+big/8)
	}
	runtime.KeepAlive(live)
	stop()
	if l := limit(); l != 1<<63-1 {
		t.Fatalf("limit after stop: %d", l)
	}
}
