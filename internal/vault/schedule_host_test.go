package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

// hostSchedule is protect.yaml's schedule with its defaults (and the
// home's position when from is set).
func hostSchedule(t *testing.T, yaml string) protect.Schedule {
	t.Helper()
	c, err := protect.Parse(strings.NewReader(yaml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c.Schedule
}

// runHost runs the host-facing jobs once (all of them) and returns the
// runs by job.
func runHost(t *testing.T, s *Scheduler) map[string]JobRun {
	t.Helper()
	runs, err := s.RunDue(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]JobRun{}
	for _, r := range runs {
		if r.Err != nil {
			t.Fatalf("job %s: %v", r.Job, r.Err)
		}
		out[r.Job] = r
	}
	return out
}

// TestHostJobsNotConfigured: at a home with no daemon sites, no update
// approvals, no reservations and no position, each host-facing job runs,
// says so, and alerts on nothing.
func TestHostJobsNotConfigured(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	s, err := v.NewScheduler(v.hostJobs(hostSchedule(t, ""))...)
	if err != nil {
		t.Fatal(err)
	}
	runs := runHost(t, s)
	for _, j := range []string{tlog.JobHost, tlog.JobUpdates, tlog.JobCompute, tlog.JobLocation} {
		r, ok := runs[j]
		if !ok || r.Report == nil || !r.Report.OK || len(r.Report.Alerts) != 0 || !strings.HasPrefix(r.Report.Summary, notConfigured) {
			t.Errorf("job %s at a home without the feature: %+v", j, r.Report)
		}
	}
	// The SLA probes run wherever there is a host site.
	if r := runs[tlog.JobSLA]; r.Report == nil || !r.Report.OK || r.Report.Summary != "1 site probed, 1 up" {
		t.Errorf("sla: %+v", r.Report)
	}
	if n := len(logged(t, v, watchman.LogKind, "")); n != 0 {
		t.Fatalf("%d alerts logged at a home with nothing to check", n)
	}
	if n := len(logged(t, v, tlog.KindJob, "")); n != 5 {
		t.Fatalf("%d job entries, want one per job", n)
	}
	// A position with no daemon to locate is still not configured; off
	// turns a job off.
	s2, err := v.NewScheduler(v.hostJobs(hostSchedule(t, "schedule:\n  location: {from: \"59.437,24.754\"}\n  host: {off: true}\n"))...)
	if err != nil {
		t.Fatal(err)
	}
	runs = runHost(t, s2)
	if _, ok := runs[tlog.JobHost]; ok {
		t.Error("host job ran though off")
	}
	if r := runs[tlog.JobLocation]; r.Report == nil || r.Report.Summary != notConfigured+"no daemon sites" {
		t.Errorf("location without daemons: %+v", r.Report)
	}
}

// TestHostJobAlertsPendingAndEscalates (requirements 22, 23): the host
// job pulls a request filed at a daemon and alerts once that it waits
// for a decision; it pulls an incident and, past the agreement's hours
// without an acknowledgement, escalates it (an escalation entry, once).
func TestHostJobAlertsPendingAndEscalates(t *testing.T) {
	now := testNow
	v, desks := deskVault(t, &now, "lu=LU")
	desks["lu"].reqs = []approval.HostRequest{hostReq(idA, tlog.ReasonHostService)}
	desks["lu"].incs = []incident.HostRecord{{ID: idB, HostFiling: incident.HostFiling{Type: "physical", Reporter: "duty officer", What: "UPS fire in hall B",
		Occurred: testNow.Add(-2 * time.Hour)}, FiledBy: "home-x/role/operator/ops", Filed: testNow.Add(-90 * time.Minute)}}
	sc := hostSchedule(t, "")
	s, err := v.NewScheduler(v.hostJobs(sc)...)
	if err != nil {
		t.Fatal(err)
	}
	r := runHost(t, s)[tlog.JobHost]
	if r.Report.OK || len(r.Report.Alerts) != 1 || r.Report.Alerts[0].Kind != AlertAccessPending || r.Report.Alerts[0].Site != "lu" ||
		r.Report.Details["access_new"] != "1" || r.Report.Details["incidents_new"] != "1" {
		t.Fatalf("first host run: %+v", r.Report)
	}
	if n := len(logged(t, v, watchman.LogKind, AlertAccessPending)); n != 1 {
		t.Fatalf("%d pending-request alerts logged, want 1", n)
	}
	// Five minutes on: nothing new, the request still pending, not re-alerted.
	now = now.Add(sc.Host.Every)
	if runs, err := s.RunDue(context.Background(), false); err != nil || len(runs) == 0 || runs[0].Job != tlog.JobHost || len(runs[0].Report.Alerts) != 0 {
		t.Fatalf("second host run: %+v %v", runs, err)
	}
	if n := len(logged(t, v, watchman.LogKind, AlertAccessPending)); n != 1 {
		t.Fatalf("the same pending request was alerted %d times", n)
	}
	if n := len(logged(t, v, incident.KindEscalation, "")); n != 0 {
		t.Fatalf("escalated within the hours: %d", n)
	}
	now = testNow.Add(73 * time.Hour)
	r = runHost(t, s)[tlog.JobHost]
	if r.Report.OK || r.Report.Details["escalated"] != "1" {
		t.Fatalf("past the hours: %+v", r.Report)
	}
	now = now.Add(time.Hour)
	if r = runHost(t, s)[tlog.JobHost]; r.Report.Details["escalated"] != "0" {
		t.Fatalf("escalated again: %+v", r.Report)
	}
	if n := len(logged(t, v, incident.KindEscalation, "")); n != 1 {
		t.Fatalf("%d escalation entries, want 1", n)
	}
}

// TestSLAJobAlertsOnceWhileDown (requirement 26): a site that does not
// answer is probed down (the monthly report counts it), alerted once
// while it stays down, and again when it goes down after recovering.
func TestSLAJobAlertsOnceWhileDown(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	down := true
	inner := o.OpenSite
	o.OpenSite = func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error) {
		if sc.Name == "ch" && down {
			return nil, errors.New("connection refused")
		}
		return inner(ctx, sc, create)
	}
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	sc := hostSchedule(t, "")
	s, err := v.NewScheduler(Job{Name: tlog.JobSLA, Every: sc.SLA.Every, Run: v.slaJob})
	if err != nil {
		t.Fatal(err)
	}
	alerts := func() []string {
		t.Helper()
		r := runHost(t, s)[tlog.JobSLA]
		var out []string
		for _, a := range r.Report.Alerts {
			out = append(out, a.Kind+" "+a.Site)
		}
		return out
	}
	if got := alerts(); len(got) != 1 || got[0] != AlertSiteDown+" ch" {
		t.Fatalf("ch down: %v", got)
	}
	if got := alerts(); len(got) != 0 {
		t.Fatalf("ch still down: %v, want nothing new", got)
	}
	down = false
	if got := alerts(); len(got) != 0 {
		t.Fatalf("ch up: %v", got)
	}
	down = true
	if got := alerts(); len(got) != 1 {
		t.Fatalf("ch down again: %v", got)
	}
	if n := len(logged(t, v, watchman.LogKind, AlertSiteDown)); n != 2 {
		t.Fatalf("%d site-down alerts logged, want 2", n)
	}
	probes, err := v.readProbes()
	if err != nil || len(probes) != 8 {
		t.Fatalf("%d probes recorded (%v), want 8", len(probes), err)
	}
}
