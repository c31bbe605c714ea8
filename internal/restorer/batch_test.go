package restorer

import (
	"fmt"
	"math/rand/v2"
	"path"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/repo"
)

// TestRunsHandOutEachJobOnce: every job is handed out exactly once, in
// order, in runs of consecutive files of one folder holding at most
// runBytes (or one larger file), each run as long as those bounds allow.
func TestRunsHandOutEachJobOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 31, 32, 33, 100, 1000, 10003} {
		jobs := make([]job, n)
		dir := 0
		for i := range jobs {
			if rng.IntN(50) == 0 {
				dir++
			}
			size := int64(rng.IntN(200))
			switch rng.IntN(20) {
			case 0:
				size = runBytes + int64(rng.IntN(3)-1)
			case 1:
				size = int64(rng.IntN(runBytes / 2))
			}
			jobs[i] = job{path: fmt.Sprintf("/t/d%d/f%d", dir, i), node: repo.Node{Size: size}}
		}
		r := &runs{jobs: jobs}
		next := 0
		for {
			lo, hi, ok := r.take()
			if !ok {
				break
			}
			if lo != next || hi <= lo || hi > n {
				t.Fatalf("n=%d: run [%d, %d), want it to start at %d", n, lo, hi, next)
			}
			var size int64
			for i := lo; i < hi; i++ {
				if path.Dir(jobs[i].path) != path.Dir(jobs[lo].path) {
					t.Fatalf("n=%d: run [%d, %d) spans two folders", n, lo, hi)
				}
				size += jobs[i].node.Size
			}
			if hi-lo > 1 && size > runBytes {
				t.Fatalf("n=%d: run [%d, %d) holds %d bytes", n, lo, hi, size)
			}
			if hi < n && path.Dir(jobs[hi].path) == path.Dir(jobs[lo].path) && size+jobs[hi].node.Size <= runBytes {
				t.Fatalf("n=%d: run [%d, %d) stopped short", n, lo, hi)
			}
			next = hi
		}
		if next != n {
			t.Fatalf("n=%d: handed out %d jobs", n, next)
		}
	}
}

// openFiles is scatterFiles, or a quarter of a lower descriptor limit
// (at least 16).
func TestOpenFilesFollowsLimit(t *testing.T) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	for _, c := range []struct {
		cur  uint64
		want int
	}{{200, 50}, {40, 16}, {1 << 16, scatterFiles}} {
		low := rl
		low.Cur = min(c.cur, rl.Max)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
			t.Fatal(err)
		}
		want := c.want
		if low.Cur != c.cur {
			want = min(scatterFiles, max(int(low.Cur/4), 16))
		}
		if got := openFiles(); got != want {
			t.Errorf("limit %d: %d files at once, want %d", low.Cur, got, want)
		}
	}
}
