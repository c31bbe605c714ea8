package restorer

import (
	"math/rand/v2"
	"testing"
)

// TestRegionsHandOutEachJobOnce: whichever worker asks, in whatever
// order, every job is handed out exactly once, in runs of at most
// batchFiles; a worker's first run is the front of its own region.
func TestRegionsHandOutEachJobOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 31, 32, 33, 100, 1000, 100003} {
		for _, w := range []int{1, 2, 4, 7} {
			r := newRegions(n, w)
			if k := len(r.lo); n >= w*batchFiles && k == w {
				for i := range w {
					if lo, _, _ := r.next(i); lo != i*n/w {
						t.Fatalf("n=%d w=%d: worker %d starts at %d, want %d", n, w, i, lo, i*n/w)
					}
				}
				r = newRegions(n, w)
			}
			seen := make([]int, n)
			for {
				lo, hi, ok := r.next(rng.IntN(w))
				if !ok {
					break
				}
				if lo >= hi || hi-lo > batchFiles {
					t.Fatalf("n=%d w=%d: run [%d, %d)", n, w, lo, hi)
				}
				for i := lo; i < hi; i++ {
					seen[i]++
				}
			}
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d w=%d: job %d handed out %d times", n, w, i, c)
				}
			}
		}
	}
}
