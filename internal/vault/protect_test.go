package vault

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/protect"
)

// protectConfig parses a protect.yaml written in dir with every scheduled
// job but config off, so a run is the snapshots, the lags and one job.
func protectConfig(t *testing.T, dir, datasets string) *protect.Config {
	t.Helper()
	yaml := "schedule:\n  agreements: {off: true}\n  inventory: {off: true}\n  integrity: {off: true}\n" +
		"  host: {off: true}\n  updates: {off: true}\n  sla: {off: true}\n  compute: {off: true}\n  location: {off: true}\n" +
		"datasets:\n" + datasets
	if err := os.WriteFile(filepath.Join(dir, protect.FileName), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := protect.Load(filepath.Join(dir, protect.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestProtectOnceUnlabelled: a protected dataset without a class label is
// refused by the policy, with the hint that names both ways to label it;
// the labelled one beside it is committed, and every site's lag of both
// is reported.
func TestProtectOnceUnlabelled(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "register row\n"})
	cfg := protectConfig(t, dir, "  - {name: nolabel, source: {type: dir, path: src}, rpo: 1h}\n"+
		"  - {name: labelled, source: {type: dir, path: src}, rpo: 1h, class: C1-I1-A1}\n")
	v := open(t, dir, o)
	var alerts []string
	p, err := v.Protection(cfg, ProtectHooks{OnAlert: func(a RPOAlert) { alerts = append(alerts, a.State+" "+a.Dataset+" "+a.Site) }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantErr := "policy denies snapshot of nolabel (unlabelled): dataset nolabel has no classification label, so it cannot leave home: label it with 'embassy snapshot nolabel PATH --class LABEL', e.g. --class C2-I3-A3"
	wantHint := "label it: add 'class: LABEL' (e.g. class: C2-I3-A3) to dataset nolabel in the protection configuration (protect.yaml), or take one labelled snapshot with 'embassy snapshot nolabel PATH --class LABEL' (protect keeps the newest label)"
	if rep.Err == nil || rep.Err.Error() != wantErr || hint.Of(rep.Err) != wantHint || hint.CodeOf(rep.Err) != hint.CodeError {
		t.Fatalf("error %q (hint %q, code %d), want %q (hint %q, code 1)", rep.Err, hint.Of(rep.Err), hint.CodeOf(rep.Err), wantErr, wantHint)
	}
	if len(rep.Errs) != 1 || len(rep.Taken) != 1 || rep.Taken[0].Dataset != "labelled" {
		t.Fatalf("errs %v, taken %v: want one refusal and the labelled snapshot", rep.Errs, rep.Taken)
	}
	var lags []string
	for _, l := range rep.Lags {
		lags = append(lags, l.Dataset+"@"+l.Site+" "+map[bool]string{true: "past", false: "ok"}[l.Exceeded])
	}
	if got, want := strings.Join(lags, ", "), "nolabel@lu past, nolabel@ch past, labelled@lu ok, labelled@ch ok"; got != want {
		t.Errorf("lags %s, want %s", got, want)
	}
	if got, want := strings.Join(alerts, ", "), "firing nolabel lu, firing nolabel ch"; got != want {
		t.Errorf("alerts %s, want %s", got, want)
	}
	if len(rep.Jobs) != 1 || rep.Jobs[0].Job != "config" || !rep.Jobs[0].OK || len(rep.Alert) != 0 {
		t.Errorf("jobs %+v, alerting %v: want config, ok", rep.Jobs, rep.Alert)
	}
}

// TestProtectErrorHints: the hint of a run's failed snapshots is each
// error's way out, once: labelling for an unlabelled dataset, fixing the
// source for anything else.
func TestProtectErrorHints(t *testing.T) {
	capture := io.ErrUnexpectedEOF
	unlabelled := hint.Wrap(&unlabelledRefusal{err: io.EOF, name: "a"}, labelHint("a"))
	for _, tc := range []struct {
		name string
		errs []error
		want string
	}{
		{"none", nil, ""},
		{"capture", []error{capture, capture}, noSourceHint},
		{"unlabelled", []error{unlabelled}, labelHint("a")},
		{"both", []error{capture, unlabelled}, noSourceHint + "; " + labelHint("a")},
		{"joined", []error{errors.Join(unlabelled, capture)}, labelHint("a") + "; " + noSourceHint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := protectError(tc.errs)
			if got := hint.Of(err); got != tc.want {
				t.Errorf("hint %q, want %q", got, tc.want)
			}
			if (err == nil) != (len(tc.errs) == 0) {
				t.Errorf("error %v for %d failures", err, len(tc.errs))
			}
		})
	}
}

// TestLoadProtectConfigMissing: no protect.yaml is a usage error saying
// what to write.
func TestLoadProtectConfigMissing(t *testing.T) {
	dir, o := newVault(t)
	v := open(t, dir, o)
	_, err := LoadProtectConfig(v.Home, "")
	want := "no protection configuration at " + filepath.Join(v.Home.Dir, "protect.yaml")
	if err == nil || err.Error() != want || hint.CodeOf(err) != hint.CodeUsage ||
		hint.Of(err) != "write it: datasets with a source (dir, sqlite, postgres), an rpo and optionally every/on-change; see 'embassy protect --help'" {
		t.Fatalf("error %v (hint %q, code %d), want %q, code 2", err, hint.Of(err), hint.CodeOf(err), want)
	}
	if _, err := v.Status(context.Background(), filepath.Join(dir, "none.yaml"), 10); err == nil || hint.CodeOf(err) != hint.CodeUsage {
		t.Fatalf("status with a missing --config: %v, want a usage error", err)
	}
}

// TestStatusLags: status measures the datasets of protect.yaml against
// their RPO, or, without one, every dataset of the vault by name with no
// RPO; each site's missing objects are listed by site.
func TestStatusLags(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "row\n"})
	v := open(t, dir, o)
	ctx := context.Background()
	for _, ds := range []string{"zeta", "alpha"} {
		if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: ds, Paths: []string{src}, Class: "internal", By: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	lagsOf := func(st *ProtectStatus) string {
		var out []string
		for _, l := range st.Lags {
			out = append(out, l.Dataset+"@"+l.Site+" "+l.RPO.String()+" "+map[bool]string{true: "past", false: "ok"}[l.Exceeded])
		}
		return strings.Join(out, ", ")
	}
	st, err := v.Status(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lagsOf(st), "alpha@lu 0s ok, alpha@ch 0s ok, zeta@lu 0s ok, zeta@ch 0s ok"; got != want || st.PastRPO != 0 || !st.Time.Equal(testNow) {
		t.Errorf("without protect.yaml: %s (past %d, at %v), want %s (0, at %v)", got, st.PastRPO, st.Time, want, testNow)
	}
	if len(st.SiteLag) != 2 || st.SiteLag[0].Site != "ch" || st.SiteLag[1].Site != "lu" || st.SiteLag[0].Objects != 0 {
		t.Errorf("site lag %+v, want ch and lu, nothing missing", st.SiteLag)
	}
	protectConfig(t, v.Home.Dir, "  - {name: zeta, source: {type: dir, path: src}, rpo: 1h}\n  - {name: never, source: {type: dir, path: src}, rpo: 1m}\n")
	if st, err = v.Status(ctx, "", 10); err != nil {
		t.Fatal(err)
	}
	if got, want := lagsOf(st), "zeta@lu 1h0m0s ok, zeta@ch 1h0m0s ok, never@lu 1m0s past, never@ch 1m0s past"; got != want || st.PastRPO != 2 {
		t.Errorf("with protect.yaml: %s (past %d), want %s (2)", got, st.PastRPO, want)
	}
}

// TestProtectMetricsHandler: the handler protect --metrics serves answers
// GET /metrics with the runner's metrics.
func TestProtectMetricsHandler(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	cfg := protectConfig(t, dir, "  - {name: registry, source: {type: dir, path: src}, rpo: 1h}\n")
	p, err := v.Protection(cfg, ProtectHooks{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "\nembassy_rpo_seconds{dataset=\"registry\"} 3600\n") {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	p.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("POST", "/metrics", nil))
	if rec.Code != 405 {
		t.Errorf("POST /metrics: %d, want 405", rec.Code)
	}
}

// TestProtectOnceTwoRefusals: two datasets refused in one run are both
// reported, each with its way out, and the protect job's failure is
// logged on one line (a joined error's newline is refused by the log,
// which made the whole run fail with "control characters are not
// allowed").
func TestProtectOnceTwoRefusals(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "register row\n"})
	cfg := protectConfig(t, dir, "  - {name: a, source: {type: dir, path: src}, rpo: 1h}\n  - {name: b, source: {type: dir, path: src}, rpo: 1h}\n")
	v := open(t, dir, o)
	p, err := v.Protection(cfg, ProtectHooks{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	refusal := func(n string) string {
		return "policy denies snapshot of " + n + " (unlabelled): dataset " + n + " has no classification label, so it cannot leave home: label it with 'embassy snapshot " + n + " PATH --class LABEL', e.g. --class C2-I3-A3"
	}
	if rep.Err == nil || rep.Err.Error() != refusal("a")+"\n"+refusal("b") || hint.Of(rep.Err) != labelHint("a")+"; "+labelHint("b") {
		t.Fatalf("error %q (hint %q)", rep.Err, hint.Of(rep.Err))
	}
	res, err := v.Log(context.Background(), LogQuery{Kinds: []string{"job"}})
	if err != nil {
		t.Fatal(err)
	}
	var summaries []string
	for _, e := range res.Entries {
		if e.Object == JobProtect {
			summaries = append(summaries, e.Details["summary"])
		}
	}
	if want := "failed: " + refusal("a") + "; " + refusal("b"); len(summaries) != 1 || summaries[0] != want[:min(len(want), 1000)] {
		t.Errorf("protect job entries %q, want one: %q", summaries, want)
	}
}
