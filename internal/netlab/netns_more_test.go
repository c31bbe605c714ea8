package netlab

import (
	"fmt"
	"runtime"
	"testing"
)

// recorder is a testing.TB whose Fatalf and Skip record and end the
// goroutine, as the real ones do.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
}

// TestMethodsUseCallersT: a namespace method reports to the t it is given
// (a subtest's), not to the test that created the namespace. Here the
// namespace does not exist, so the method fails (or skips without nft)
// on the recorder while the real t stays clean.
func TestMethodsUseCallersT(t *testing.T) {
	n := &NS{Name: "emb-lab-absent", HostDev: "elabsenth", Dev: "elabsentn"}
	for name, op := range map[string]func(testing.TB){
		"partition": func(tb testing.TB) { n.Partition(tb, true) },
		"loss":      func(tb testing.TB) { n.Loss(tb, 5) },
		"bandwidth": func(tb testing.TB) { n.Bandwidth(tb, "1mbit") },
	} {
		rec := &recorder{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); op(rec) }()
		<-done
		if rec.fatal == "" && rec.skip == "" {
			t.Errorf("%s on a missing namespace reported nothing to the caller's t", name)
		}
	}
}
