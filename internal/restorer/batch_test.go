package restorer

import "testing"

// TestBatchesCoverEachJobOnce: the interleaved runs hand out every job
// exactly once, each run within one region and at most batchFiles long.
func TestBatchesCoverEachJobOnce(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 33, 100, 1000, 100003} {
		for _, w := range []int{1, 2, 4, 7} {
			seen := make([]int, n)
			for _, b := range batches(n, w) {
				if b[0] >= b[1] || b[1]-b[0] > batchFiles {
					t.Fatalf("n=%d w=%d: run %v", n, w, b)
				}
				for i := b[0]; i < b[1]; i++ {
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
