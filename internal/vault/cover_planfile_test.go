package vault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/plan"
)

// infeasibleScenario asks for a class kept in a jurisdiction no site is in.
const infeasibleScenario = `format: embassy-scenario/v1
name: test
state: EE
home: {location: "59.43,24.75"}
classes:
  - {name: reg, label: C2-I3-A3, volume-tb: 2, rto-hours: 24, jurisdictions: [JP]}
paths:
  - {name: p1, kind: fibre, capacity-gbps: 10}
sites:
  - {name: lu, url: "mem:lu", jurisdiction: LU, location: "49.6,6.1", tier: 4, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 100, per-tb-year: 1}, paths: [p1]}
`

const (
	infeasibleMsg  = "no feasible placement: class reg: residency [JP] cannot be met (no candidate site may hold it: residency (1))"
	infeasibleHint = "no single relaxation tried makes it feasible: add candidate sites or loosen several constraints"
)

// TestCoverPlanReport: a scenario read from a file or stdin is reported
// (and written as HTML when asked); bad trials, a missing file, a
// malformed scenario and an unwritable --html are refused with their
// codes; an infeasible scenario still returns its report, with exit 3.
func TestCoverPlanReport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(path, []byte(applyScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	html := filepath.Join(dir, "r.html")
	r, err := PlanReport(PlanReportRequest{Path: path, Trials: 10, HTML: html})
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		t.Fatal("no report")
	}
	b, err := os.ReadFile(html)
	if err != nil || !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
		t.Fatalf("html report: %v, starts %.40q", err, b)
	}
	if _, err := PlanReport(PlanReportRequest{Path: "-", Stdin: strings.NewReader(applyScenario), Trials: 10, NoFrontier: true}); err != nil {
		t.Fatalf("from stdin: %v", err)
	}

	_, err = PlanReport(PlanReportRequest{Path: path, Trials: -1})
	wantCode(t, err, hint.CodeUsage, "--trials -1: use 1 to 100000000 (0: the scenario's)", "")
	missing := filepath.Join(dir, "nope.yaml")
	_, err = PlanReport(PlanReportRequest{Path: missing})
	wantCode(t, err, hint.CodeUsage, "open "+missing+": no such file or directory", "give the path of a scenario file (see examples/scenarios/)")
	_, err = PlanReport(PlanReportRequest{Path: "-", Stdin: strings.NewReader("format: embassy-scenario/v1\nname: x\n")})
	wantCode(t, err, hint.CodeUsage, "-: state: missing (required)\n  home: missing (required)\n  classes: missing (required)\n  sites: missing (required)", "fix the scenario (docs/SCENARIO.md; 'embassy plan schema' prints the JSON Schema)")
	_, err = PlanReport(PlanReportRequest{Path: path, Trials: 10, HTML: filepath.Join(dir, "no", "r.html")})
	wantCode(t, err, hint.CodeError, "open "+filepath.Join(dir, "no", "r.html")+": no such file or directory", "choose a writable path for --html")

	r, err = PlanReport(PlanReportRequest{Path: "-", Stdin: strings.NewReader(infeasibleScenario), Trials: 10})
	if r == nil {
		t.Fatalf("an infeasible scenario returned no report (err %v)", err)
	}
	wantCode(t, err, hint.CodeDamaged, infeasibleMsg, infeasibleHint)
}

// TestCoverPlanFileCheckApply: check lists the home's departures from the
// plan with exit 3 and the apply --dry-run hint; apply adds the sites and
// a second check finds the home as planned; an infeasible scenario is
// refused by both with exit 3 before the home is read.
func TestCoverPlanFileCheckApply(t *testing.T) {
	dir, o := newVault(t)
	v := open(t, dir, o)
	ctx := context.Background()
	path := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(path, []byte(applyScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	diffs, err := v.CheckPlan(ctx, path, nil)
	wantCode(t, err, hint.CodeDamaged, "the system departs from the plan in 6 ways", "run 'embassy plan apply "+path+" --dry-run' to see what apply would change")
	if len(diffs) != 6 {
		t.Fatalf("%d differences listed, the error counts 6: %+v", len(diffs), diffs)
	}
	res, err := v.ApplyPlanFile(ctx, "-", strings.NewReader(applyScenario), false)
	wantCode(t, err, hint.CodeDamaged, "2 differences need an operator",
		"remove or rename the conflicting sites ('embassy site remove', 'embassy exit'), or give the planned sites a url in the scenario")
	if got := kinds(res.Done); got != "home home,site-missing lu,site-missing fi,class-missing C2-I3-A3" {
		t.Errorf("applied: %s", got)
	}
	if got := kinds(res.Left); got != "agreement-missing lu,agreement-missing fi" {
		t.Errorf("left: %s", got)
	}
	v2 := open(t, dir, o)
	diffs, err = v2.CheckPlan(ctx, path, nil)
	wantCode(t, err, hint.CodeDamaged, "the system departs from the plan in 2 ways", "run 'embassy plan apply "+path+" --dry-run' to see what apply would change")
	if got := kinds(diffs); got != "agreement-missing lu,agreement-missing fi" {
		t.Errorf("left after apply: %s", got)
	}
	_, err = v2.CheckPlan(ctx, "-", strings.NewReader(infeasibleScenario))
	wantCode(t, err, hint.CodeDamaged, infeasibleMsg, infeasibleHint)
	_, err = v2.ApplyPlanFile(ctx, "-", strings.NewReader(infeasibleScenario), true)
	wantCode(t, err, hint.CodeDamaged, infeasibleMsg, infeasibleHint)
	_, err = v2.ApplyPlanFile(ctx, filepath.Join(dir, "nope.yaml"), nil, true)
	wantCode(t, err, hint.CodeUsage, "open "+filepath.Join(dir, "nope.yaml")+": no such file or directory", "give the path of a scenario file (see examples/scenarios/)")
}

func kinds(ds []plan.Difference) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Kind+" "+d.Subject)
	}
	return strings.Join(out, ",")
}
