package vault

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

// logged returns the home's log entries of kind (and reason, if set).
func logged(t *testing.T, v *Vault, kind, reason string) []tlog.Indexed {
	t.Helper()
	rd, err := v.Recorder().Reader()
	if err != nil {
		t.Fatal(err)
	}
	_, ents, err := rd.All(context.Background())
	if err != nil && !errors.Is(err, tlog.ErrEmpty) {
		t.Fatal(err)
	}
	var out []tlog.Indexed
	for _, e := range ents {
		if e.Kind == kind && (reason == "" || e.Reason == reason) {
			out = append(out, e)
		}
	}
	return out
}

// counter is a job that counts its runs.
func counter(name string, every time.Duration, n *int) Job {
	return Job{Name: name, Every: every, Run: func(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
		*n++
		return &JobReport{OK: true, Summary: fmt.Sprintf("run %d", *n)}, nil
	}}
}

// TestSchedulerIntervalsAndRestart (issue 10): jobs run when their
// interval has passed on the vault's clock (a fake one here), each result
// is a job entry, and a scheduler started again over the same home
// resumes from the persisted state instead of running everything again.
func TestSchedulerIntervalsAndRestart(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	ctx := context.Background()
	var hourly, daily int
	s, err := v.NewScheduler(counter("hourly", time.Hour, &hourly), counter("daily", 24*time.Hour, &daily))
	if err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration, wantH, wantD int) {
		t.Helper()
		now = now.Add(d)
		if _, err := s.RunDue(ctx, false); err != nil {
			t.Fatal(err)
		}
		if hourly != wantH || daily != wantD {
			t.Fatalf("at +%s: hourly ran %d, daily %d; want %d, %d", now.Sub(testNow), hourly, daily, wantH, wantD)
		}
	}
	step(0, 1, 1)
	step(30*time.Minute, 1, 1)
	step(30*time.Minute, 2, 1)
	if got := len(logged(t, v, tlog.KindJob, "")); got != 3 {
		t.Fatalf("%d job entries, want 3", got)
	}
	// A new process over the same home.
	s2, err := v.NewScheduler(counter("hourly", time.Hour, &hourly), counter("daily", 24*time.Hour, &daily))
	if err != nil {
		t.Fatal(err)
	}
	s = s2
	step(30*time.Minute, 2, 1) // 30 min after the last hourly run: nothing due
	step(30*time.Minute, 3, 1)
	step(23*time.Hour, 4, 2)
	if st := s.State("hourly"); st.Runs != 4 || !st.LastRun.Equal(now) {
		t.Fatalf("hourly state %+v", st)
	}
	if want, got := s.Next(), now.Add(time.Hour); !want.Equal(got) {
		t.Fatalf("next due %s, want %s", want, got)
	}
}

// TestSchedulerFailureAlertsOnce: a job that fails is logged with an
// alert through the notifier's log entry, once while the error repeats,
// and the state counts the failures.
func TestSchedulerFailureAlertsOnce(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	fail := true
	s, err := v.NewScheduler(Job{Name: "flaky", Every: time.Minute, Run: func(context.Context, time.Time, *JobState) (*JobReport, error) {
		if fail {
			return nil, errors.New("site lu refused the listing")
		}
		return &JobReport{OK: true}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.RunDue(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
	}
	if n := len(logged(t, v, watchman.LogKind, JobFailedKind)); n != 1 {
		t.Fatalf("%d job-failed alerts for one repeated error, want 1", n)
	}
	if st := s.State("flaky"); st.Failures != 3 || !strings.Contains(st.LastErr, "refused") {
		t.Fatalf("state %+v", st)
	}
	fail = false
	if _, err := s.RunDue(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if st := s.State("flaky"); st.LastErr != "" || !st.LastOK.Equal(now) {
		t.Fatalf("state after recovery %+v", st)
	}
}

// crashEnv names the home a re-executed test process runs a job in and
// is killed (SIGKILL) between logging the result and writing the state.
const crashEnv = "EMBASSY_TEST_SCHEDULE_CRASH_HOME"

func crashJob(n *int) Job {
	return Job{Name: "drill-like", Every: time.Hour, Run: func(context.Context, time.Time, *JobState) (*JobReport, error) {
		*n++
		return &JobReport{OK: true, Summary: "result to keep"}, nil
	}}
}

// TestSchedulerKilledBetweenLogAndState: the process is killed with
// SIGKILL after the job's result is in the log and before its state is
// written; the result stays in the log and the restarted scheduler runs
// the job again (at least once, nothing lost).
func TestSchedulerKilledBetweenLogAndState(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		h, err := home.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		v := New(h, Options{Clock: func() time.Time { return testNow }})
		var n int
		s, err := v.NewScheduler(crashJob(&n))
		if err != nil {
			t.Fatal(err)
		}
		s.afterLog = func(JobRun) { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
		_, _ = s.RunDue(context.Background(), false)
		t.Fatal("not killed")
	}
	dir, o := newVault(t, "lu=LU")
	homeDir := filepath.Join(dir, "home")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSchedulerKilledBetweenLogAndState$")
	cmd.Env = append(os.Environ(), crashEnv+"="+homeDir)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", err)
	}
	v := open(t, dir, o)
	if got := logged(t, v, tlog.KindJob, ""); len(got) != 1 || got[0].Details["summary"] != "result to keep" {
		t.Fatalf("job entries after the kill: %+v", got)
	}
	var n int
	s, err := v.NewScheduler(crashJob(&n))
	if err != nil {
		t.Fatal(err)
	}
	if s.State("drill-like") != nil {
		t.Fatal("the state says the killed run finished")
	}
	if _, err := s.RunDue(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n != 1 || s.State("drill-like").Runs != 1 || len(logged(t, v, tlog.KindJob, "")) != 2 {
		t.Fatalf("after restart: ran %d, state %+v", n, s.State("drill-like"))
	}
}

// TestAgreementJobOnItsOwnSchedule (issue 18 #1): the agreements job
// alerts N days before an agreement ends and again when it has ended,
// each once, on the scheduler's clock, and the alerts are logged.
func TestAgreementJobOnItsOwnSchedule(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	now := time.Date(2033, 3, 1, 0, 0, 0, 0, time.UTC)
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	installAgreement(t, v, "mc-lu.signed.yaml", "mc-lu", "lu") // ends 2033-06-30, review overdue since 2026
	st := &JobState{}
	kinds := func() []string {
		t.Helper()
		rep, err := v.agreementJob(now, 60*24*time.Hour, st)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range rep.Alerts {
			out = append(out, a.Kind)
		}
		return out
	}
	if got := kinds(); len(got) != 1 || got[0] != AlertReviewOverdue {
		t.Fatalf("four months before the end: %v, want only the overdue review", got)
	}
	now = time.Date(2033, 5, 15, 0, 0, 0, 0, time.UTC)
	if got := kinds(); len(got) != 1 || got[0] != AlertAgreementExpiring {
		t.Fatalf("46 days before the end: %v", got)
	}
	now = now.Add(24 * time.Hour)
	if got := kinds(); len(got) != 0 {
		t.Fatalf("the next day: %v, want nothing new", got)
	}
	now = time.Date(2033, 7, 1, 0, 0, 0, 0, time.UTC)
	if got := kinds(); len(got) != 1 || got[0] != AlertAgreementExpired {
		t.Fatalf("after the end: %v", got)
	}
}

// TestInventoryJobAlertsOnUndeclaredData (issue 18 #9): data at a site
// that the declared inventory does not name is an alert naming the site
// and dataset; declared, it is not.
func TestInventoryJobAlertsOnUndeclaredData(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"register.csv": "1,a\n"})
	v := open(t, dir, o)
	ctx := context.Background()
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "tax", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(v.Home.Dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte("datasets:\n  - {name: land, owner: Land Board, rpo: 24h}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &JobState{}
	rep, err := v.inventoryJob(ctx, testNow, st)
	if err != nil {
		t.Fatal(err)
	}
	var sites []string
	for _, a := range rep.Alerts {
		if a.Kind != AlertUndeclaredData || a.Dataset != "tax" {
			t.Errorf("alert %+v", a)
		}
		sites = append(sites, a.Site)
	}
	if rep.OK || strings.Join(sites, ",") != "lu,ch" {
		t.Fatalf("undeclared tax at lu and ch: ok %t, alerts at %v", rep.OK, sites)
	}
	if rep, _ := v.inventoryJob(ctx, testNow, st); len(rep.Alerts) != 0 {
		t.Fatalf("raised again: %+v", rep.Alerts)
	}
	if err := os.WriteFile(policyFile, []byte("datasets:\n  - {name: land}\n  - {name: tax, owner: Tax Board}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, _ := v.inventoryJob(ctx, testNow, st); !rep.OK || len(st.Raised) != 0 {
		t.Fatalf("declared: ok %t, raised %v", rep.OK, st.Raised)
	}
	// Another process snapshots a declared dataset while this vault stays
	// open: the scan reads the home's state as it is now, no false alarm.
	other := open(t, dir, o)
	if _, err := other.Snapshot(ctx, SnapshotRequest{Dataset: "land", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	if rep, _ := v.inventoryJob(ctx, testNow, st); !rep.OK || rep.Details["held"] != "4" {
		t.Fatalf("after another process's snapshot: %+v", rep)
	}
}

// TestIntegrityJobComparesSignedStates (issue 18 #10): the scheduled
// integrity check compares the home's snapshot list with each site's
// signed state as the site shows it: a site whose newest state records
// were removed (rolled back) is a problem naming it, the other site
// agrees with the home.
func TestIntegrityJobComparesSignedStates(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"register.csv": "1,a\n"})
	v := open(t, dir, o)
	ctx := context.Background()
	for i := range 2 {
		writeTree(t, src, map[string]string{"register.csv": fmt.Sprintf("%d,a\n", i)})
		if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "tax", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	ir, err := v.CheckIntegrity(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ir.Problems) != 0 || ir.SiteState["lu"] != ir.HomeState || ir.SiteState["ch"] != ir.HomeState {
		t.Fatalf("honest sites: %+v", ir)
	}
	lu, err := o.OpenSite(ctx, home.SiteConfig{Name: "lu"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := lu.Delete(ctx, site.Handle{Kind: site.KindConfig, Name: fmt.Sprintf("state-%012d", ir.HomeState)}); err != nil {
		t.Fatal(err)
	}
	st := &JobState{}
	rep, err := v.integrityJob(ctx, testNow, 24, st)
	if err != nil {
		t.Fatal(err)
	}
	// The comparison reads lu as it shows itself; the verification that
	// follows opens the vault afresh, which puts the home's state back.
	var a watch.Alert
	for _, x := range rep.Alerts {
		if x.Site != "lu" {
			t.Errorf("alert at %s: %+v", x.Site, x)
		}
		if x.Kind == AlertIntegrity {
			a = x
		}
	}
	if rep.OK || len(rep.Alerts) != 1 {
		t.Fatalf("rolled-back lu: %+v", rep)
	}
	if a.Kind != AlertIntegrity || a.Site != "lu" || !strings.Contains(a.Why, "older than the home's") || !strings.Contains(a.Why, "lacks 1 of the home's snapshots") {
		t.Fatalf("alert %+v", a)
	}
	if rep.Details["sites"] != "lu" || st.Data["runs_since_read"] != "1" {
		t.Fatalf("details %v, data %v", rep.Details, st.Data)
	}
	if rep, err := v.integrityJob(ctx, testNow, 24, st); err != nil || !rep.OK || len(st.Raised) != 0 {
		t.Fatalf("after the home put lu back: %+v %v, raised %v", rep, err, st.Raised)
	}
}

// TestConfigHistoryAndAuditBundle (issue 18 #24): configuration changes
// are logged with content digests; the audit bundle carries the four
// parts and the documents, verifies offline, and is refused when a
// document, a part or a drill report is cut or altered.
func TestConfigHistoryAndAuditBundle(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	ctx := context.Background()
	changed, err := v.RecordConfig(ctx)
	if err != nil || strings.Join(changed, ",") != "embassy.yaml,log/policy" {
		t.Fatalf("first record: %v %v", changed, err)
	}
	if err := os.WriteFile(filepath.Join(v.Home.Dir, "policy.yaml"), []byte("require-agreement: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if changed, _ := v.RecordConfig(ctx); strings.Join(changed, ",") != "policy.yaml" {
		t.Fatalf("after editing policy.yaml: %v", changed)
	}
	if changed, _ := v.RecordConfig(ctx); len(changed) != 0 {
		t.Fatalf("nothing changed: %v", changed)
	}
	// A drill report kept in the home and its entry.
	_, priv, _ := ed25519.GenerateKey(nil)
	doc, err := evidence.Sign(evidence.KindDrillReport, map[string]any{"plan": "p1", "home": v.Home.Config.Home, "pass": true}, priv, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(EvidenceDir(v.Home), "drills"), 0o700)
	digest, err := WriteDoc(filepath.Join(EvidenceDir(v.Home), "drills", "p1.json"), doc)
	if err != nil {
		t.Fatal(err)
	}
	v.Recorder().Audit(ctx, tlog.DrillEntry(tlog.DrillFacts{Plan: "p1", Pass: true, RTO: 3, Report: digest}))
	v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindKeyRelease, Dataset: "d", Site: "lu", Details: map[string]string{"tee": "tpm", "measurements": "abc"}})
	now = now.Add(time.Minute)
	data, b, err := v.AuditExport(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := evidence.VerifyAudit(data, v.Recorder().Policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts.Config) != 3 || len(res.Parts.Drills) != 1 || len(res.Parts.Attestation) != 1 || res.Documents != 4 || len(b.Unavailable) != 0 {
		t.Fatalf("parts %+v, %d documents, unavailable %v", res.Parts, res.Documents, b.Unavailable)
	}
	tamper := func(name string, edit func(*evidence.AuditBundle)) {
		t.Helper()
		var c evidence.AuditBundle
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		edit(&c)
		raw, _ := c.Marshal()
		if _, err := evidence.VerifyAudit(raw, v.Recorder().Policy, nil); !errors.Is(err, evidence.ErrAuditIncomplete) {
			t.Errorf("%s: %v, want refused as incomplete", name, err)
		}
	}
	tamper("config content altered", func(c *evidence.AuditBundle) {
		for i := range c.Documents {
			if c.Documents[i].Name == "policy.yaml" {
				c.Documents[i].Content = []byte("require-agreement: false\n")
			}
		}
	})
	tamper("drill report dropped", func(c *evidence.AuditBundle) {
		var keep []evidence.AuditDocument
		for _, d := range c.Documents {
			if d.Kind != evidence.DocDrillReport {
				keep = append(keep, d)
			}
		}
		c.Documents = keep
	})
	tamper("attestation record left out of its part", func(c *evidence.AuditBundle) { c.Parts.Attestation = nil })
	tamper("config change left out of its part", func(c *evidence.AuditBundle) { c.Parts.Config = c.Parts.Config[1:] })
	tamper("smuggled document", func(c *evidence.AuditBundle) {
		c.Documents = append(c.Documents, evidence.AuditDocument{Index: 0, Kind: evidence.DocConfig, Name: "x", Content: []byte("x")})
	})
	// A report the home lost is declared, and reported as partial.
	os.Remove(filepath.Join(EvidenceDir(v.Home), "drills", "p1.json"))
	data, b, err = v.AuditExport(ctx, time.Time{}, time.Time{})
	if err != nil || len(b.Unavailable) != 1 {
		t.Fatalf("lost report: %v, unavailable %v", err, b.Unavailable)
	}
	if res, err := evidence.VerifyAudit(data, v.Recorder().Policy, nil); err != nil || len(res.Unavailable) != 1 {
		t.Fatalf("declared unavailable: %v", err)
	}
}

// TestSchedulerRunLoop (issue 10): Run sleeps (an injected sleep that
// advances the fake clock) until the next job is due, at most poll, runs
// what is due, and returns nil once its context ends.
func TestSchedulerRunLoop(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var fast, slow int
	s, err := v.NewScheduler(counter("fast", 10*time.Minute, &fast), counter("slow", time.Hour, &slow))
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	s.Sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		if now.Sub(testNow) >= 2*time.Hour {
			cancel()
			return ctx.Err()
		}
		return nil
	}
	if err := s.Run(ctx, 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Two hours in steps of 10 min: fast ran at 0, 10, ..., 110 min; slow at 0 and 60.
	if fast != 12 || slow != 2 {
		t.Fatalf("fast ran %d, slow %d; want 12, 2", fast, slow)
	}
	for _, d := range slept {
		if d != 10*time.Minute {
			t.Fatalf("slept %v, want steps of 10m (the next due job)", slept)
		}
	}
}
