package vault

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

// TestWatchRaisesScheduledAlerts (issue 10 #2, issue 18 #1): each
// evaluation of the watcher checks the exit deadlines and the agreements'
// terms at the vault's clock, so an exit past its deadline and an
// agreement near its end alert on their own schedule, once each, and the
// alert is in the transparency log.
func TestWatchRaisesScheduledAlerts(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	ctx := context.Background()
	installAgreement(t, v, "mc-lu.signed.yaml", "mc-lu", "lu")
	kinds := func() []string {
		t.Helper()
		c, err := v.Watch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range c.Alerts {
			out = append(out, a.Kind)
		}
		return out
	}
	logged := func(kind string) int {
		t.Helper()
		rd, err := v.Recorder().Reader()
		if err != nil {
			t.Fatal(err)
		}
		_, ents, err := rd.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range ents {
			if x.Kind == watchman.LogKind && x.Reason == kind {
				n++
			}
		}
		return n
	}
	if got := kinds(); slices.Contains(got, ExitOverdueKind) || slices.Contains(got, watchman.CondAgreementExpiry) {
		t.Fatalf("nothing is due yet, got %v", got)
	}
	oe, err := v.BeginExit(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	now = oe.Deadline.Add(-time.Second)
	if got := kinds(); slices.Contains(got, ExitOverdueKind) {
		t.Fatalf("a second before the deadline: %v", got)
	}
	now = oe.Deadline.Add(time.Second)
	c, err := v.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Overdue) != 1 || c.Overdue[0].Site != "ch" {
		t.Fatalf("overdue exits %+v, want ch", c.Overdue)
	}
	var exitAlerts int
	for _, a := range c.Alerts {
		if a.Kind == ExitOverdueKind {
			exitAlerts++
			if a.Site != "ch" || a.Baseline != float64(oe.Days) || a.Observed < a.Baseline {
				t.Errorf("exit alert %+v", a)
			}
		}
	}
	if exitAlerts != 1 || logged(ExitOverdueKind) != 1 {
		t.Fatalf("past the deadline: %d exit alerts, %d logged; want 1, 1", exitAlerts, logged(ExitOverdueKind))
	}
	now = now.Add(time.Hour)
	if got := kinds(); slices.Contains(got, ExitOverdueKind) || logged(ExitOverdueKind) != 1 {
		t.Fatalf("the next cycle raised the exit again: %v", got)
	}
	// mc-lu's term ends on 2033-06-30: a month before, the watcher warns once.
	now = time.Date(2033, 6, 1, 9, 0, 0, 0, time.UTC)
	if got := kinds(); !slices.Contains(got, watchman.CondAgreementExpiry) || logged(watchman.CondAgreementExpiry) != 1 {
		t.Fatalf("a month before mc-lu ends: %v, %d logged", got, logged(watchman.CondAgreementExpiry))
	}
	now = now.Add(24 * time.Hour)
	if got := kinds(); slices.Contains(got, watchman.CondAgreementExpiry) || logged(watchman.CondAgreementExpiry) != 1 {
		t.Fatalf("the expiry was warned of twice: %v", got)
	}
}

// TestWatchForwardsExitStatusAlert: an exit first found overdue by
// 'embassy exit status' (CheckExits outside the watcher) is still
// forwarded by the next watcher cycle, once.
func TestWatchForwardsExitStatusAlert(t *testing.T) {
	dir, o := newVault(t, "ch=CH")
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	ctx := context.Background()
	if _, err := v.Watch(ctx); err != nil { // the watcher has seen the home
		t.Fatal(err)
	}
	oe, err := v.BeginExit(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	now = oe.Deadline.Add(time.Minute)
	if got, err := v.CheckExits(); err != nil || len(got) != 1 {
		t.Fatalf("exit status: %v %v", got, err)
	}
	count := func() int {
		t.Helper()
		c, err := v.Watch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range c.Alerts {
			if a.Kind == ExitOverdueKind && a.Site == "ch" && a.Baseline == float64(oe.Days) {
				n++
			}
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("first cycle after exit status: %d exit alerts, want 1", n)
	}
	if n := count(); n != 0 {
		t.Fatalf("second cycle: %d exit alerts, want 0", n)
	}
}
