package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBoundedKeepsAtMostMaxValues(t *testing.T) {
	reg := NewBareRegistry()
	b := NewBounded(reg, "test_sources_total", "Sources.", "source", 3)
	for i := range 10 {
		b.Inc(fmt.Sprintf("10.0.0.%d", i))
	}
	b.Inc("10.0.0.0") // a known value keeps its own series
	if n := testutil.CollectAndCount(b.vec); n != 4 {
		t.Fatalf("%d series, want 3 values and other", n)
	}
	if v := testutil.ToFloat64(b.vec.WithLabelValues("other")); v != 7 {
		t.Errorf("other = %v, want 7", v)
	}
	if v := testutil.ToFloat64(b.vec.WithLabelValues("10.0.0.0")); v != 2 {
		t.Errorf("10.0.0.0 = %v, want 2", v)
	}
}

func TestRegistryNames(t *testing.T) {
	reg := NewBareRegistry()
	NewRequests(reg, "x_", "X")
	got := fmt.Sprint(reg.Names())
	if got != "[x_request_duration_seconds x_requests_total]" {
		t.Errorf("names %s", got)
	}
	if len(NewRegistry().Names()) < 10 {
		t.Error("NewRegistry lacks the Go and process collectors")
	}
}

func BenchmarkRequestsObserve(b *testing.B) {
	r := NewRequests(NewBareRegistry(), "bench_", "Bench")
	for b.Loop() {
		r.Observe("get", "home", 200, time.Millisecond)
	}
}
