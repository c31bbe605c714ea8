package vault

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestCoverSchedulerRun: Jobs lists the jobs sorted; Run runs what is
// due, sleeps until the next job is due but at most poll, and returns
// nil once its context ends (with the default sleep too); sleepCtx
// waits out its duration or returns the context's error.
func TestCoverSchedulerRun(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	var na, nb int
	s, err := v.NewScheduler(counter("b", time.Hour, &nb), counter("a", 2*time.Hour, &na))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Jobs(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("jobs %q, want [a b]", got)
	}
	for _, c := range []struct {
		poll, want time.Duration
	}{{time.Minute, time.Minute}, {3 * time.Hour, time.Hour}} {
		ctx, cancel := context.WithCancel(context.Background())
		var slept []time.Duration
		s.Sleep = func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			cancel()
			return nil
		}
		if err := s.Run(ctx, c.poll); err != nil {
			t.Fatalf("poll %v: %v", c.poll, err)
		}
		if !slices.Equal(slept, []time.Duration{c.want}) {
			t.Errorf("poll %v: slept %v, want [%v] (b is due an hour after the clock's now)", c.poll, slept, c.want)
		}
	}
	if na != 1 || nb != 1 {
		t.Errorf("runs a=%d b=%d on a clock that does not move, want 1 each", na, nb)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.Sleep = nil
	s2, err := v.NewScheduler(Job{Name: "c", Every: time.Hour, Run: func(context.Context, time.Time, *JobState) (*JobReport, error) {
		cancel()
		return &JobReport{OK: true, Summary: "cancelled"}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Run(ctx, time.Hour); err != nil {
		t.Fatalf("default sleep: %v", err)
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleepCtx: %v", err)
	}
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleepCtx on an ended context: %v", err)
	}
}
