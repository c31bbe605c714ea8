package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The soft limit sits at the floor for a small heap, with GOGC off (the
// limit is the one trigger), and is off once the live heap has been above
// it, GOGC back on, so that the collector never runs back to back nor
// returns memory it will need again, and a large heap always has a
// trigger.
func TestMemLimitFollowsLiveHeap(t *testing.T) {
	runtime.GC() // the live heap startMemLimit reads first is a small one
	stop := startMemLimit(100)
	defer stop()
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	percent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
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
	if p := percent(); p != -1 {
		t.Fatalf("GOGC with a small heap: %d, want off (-1)", p)
	}
	func() {
		live := make([][]byte, 0, 200)
		for range cap(live) {
			live = append(live, make([]byte, 1<<20))
		}
		if l := settle(func(l int64) bool { return l == math.MaxInt64 }); l != math.MaxInt64 {
			t.Fatalf("limit with a live heap of 200 MiB: %d, want none", l)
		}
		if p := percent(); p != 100 {
			t.Fatalf("GOGC with a live heap of 200 MiB: %d, want 100", p)
		}
		runtime.KeepAlive(live)
	}()
	if l := settle(func(l int64) bool { return l != math.MaxInt64 }); l != math.MaxInt64 {
		t.Fatalf("limit after the live heap shrank again: %d, want none", l)
	}
	stop()
	if l := limit(); l != math.MaxInt64 {
		t.Fatalf("limit after stop: %d", l)
	}
}
