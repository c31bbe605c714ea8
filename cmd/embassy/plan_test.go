package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The planner through the real binary: reports over the three examples,
// a malformed and an infeasible scenario, and apply/check on a real home.

func examplePath(name string) string { return filepath.Join("..", "..", "examples", "scenarios", name) }

func TestPlanReportExamples(t *testing.T) {
	f := &fixture{t: t, dir: t.TempDir()}
	f.home = filepath.Join(f.dir, "home")
	for _, name := range []string{"baltic.yaml", "gulf.yaml", "pacific.yaml"} {
		t.Run(name, func(t *testing.T) {
			f.t = t
			out, errOut, code := f.result("plan", "report", examplePath(name), "--trials", "5000", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var r struct {
				Scores    []struct{ Site string }
				Placement struct {
					Classes []struct {
						Class         string
						Sites         []string
						Jurisdictions []string
					}
					Optimal bool
				}
				Simulation struct{ Trials int }
				Frontier   []struct{ Pareto bool }
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("--json output: %v\n%s", err, out)
			}
			if len(r.Scores) < 5 || len(r.Placement.Classes) < 4 || r.Simulation.Trials != 5000 || len(r.Frontier) == 0 {
				t.Fatalf("incomplete report: %d scores, %d classes, %d trials, %d frontier points", len(r.Scores), len(r.Placement.Classes), r.Simulation.Trials, len(r.Frontier))
			}
			for _, c := range r.Placement.Classes {
				if len(c.Sites) < 2 {
					t.Fatalf("class %s on %v: every example class survives one site loss", c.Class, c.Sites)
				}
			}
			html := filepath.Join(f.dir, name+".html")
			out, errOut, code = f.result("plan", "report", examplePath(name), "--trials", "2000", "--no-frontier", "--html", html)
			if code != 0 || !strings.Contains(out, "Placement (") {
				t.Fatalf("exit %d: %s%s", code, out, errOut)
			}
			b, err := os.ReadFile(html)
			if err != nil || strings.Count(string(b), "<svg") < 3 || !strings.HasSuffix(strings.TrimSpace(string(b)), "</html>") || strings.Contains(string(b), "<script") {
				t.Fatalf("html report: %v, %d charts", err, strings.Count(string(b), "<svg"))
			}
		})
	}
}

const planBase = `format: embassy-scenario/v1
name: cli test
state: EE
home: {location: "59.437,24.754"}
classes:
  - {name: registry, label: C2-I3-A3, volume-tb: 1, tolerate: 2, jurisdictions: [LU, CH, FI]}
paths:
  - {name: south, kind: fibre, capacity-gbps: 10}
  - {name: north, kind: subsea, capacity-gbps: 10}
sites:
  - {name: a, url: %s, jurisdiction: LU, location: "49.6,6.1", tier: 4, capacity-tb: 10, cost: {fixed-per-year: 100, per-tb-year: 1}, paths: [south, north]}
  - {name: b, url: %s, jurisdiction: CH, location: "46.2,6.1", tier: 4, capacity-tb: 10, cost: {fixed-per-year: 100, per-tb-year: 1}, paths: [south]}
  - {name: c, url: %s, jurisdiction: FI, location: "64.2,27.7", tier: 3, capacity-tb: 10, cost: {fixed-per-year: 100, per-tb-year: 1}, paths: [north]}
`

func TestPlanBadScenarios(t *testing.T) {
	f := &fixture{t: t, dir: t.TempDir()}
	f.home = filepath.Join(f.dir, "home")
	good := fmt.Sprintf(planBase, "/x/a", "/x/b", "/x/c")
	write := func(name, body string) string {
		p := filepath.Join(f.dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	// malformed: exit 2, every problem with its line
	bad := write("bad.yaml", strings.Replace(strings.Replace(good, "volume-tb: 1", "volume-tb: -1", 1), "paths: [south]}", "paths: [west]}", 1))
	_, errOut, code := f.result("plan", "report", bad)
	if code != 2 || !strings.Contains(errOut, "line 6: classes[0].volume-tb: -1 is below the minimum") ||
		!strings.Contains(errOut, `line 12: sites[1].paths[0]: unknown path "west"`) || !strings.Contains(errOut, "embassy: hint:") {
		t.Fatalf("malformed scenario: exit %d\n%s", code, errOut)
	}
	// infeasible: residency allows one jurisdiction for critical data: exit 3
	inf := write("inf.yaml", strings.Replace(good, "tolerate: 2, jurisdictions: [LU, CH, FI]}", "tolerate: 1, jurisdictions: [LU]}", 1))
	out, errOut, code := f.result("plan", "report", inf, "--trials", "100")
	if code != 3 || !strings.Contains(errOut, "min-jurisdictions 2 cannot be met") || !strings.Contains(errOut, "hint: nearest feasible relaxation: classes[0] (registry)") ||
		!strings.Contains(out, "No feasible placement") {
		t.Fatalf("infeasible scenario: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = f.result("plan", "report", inf, "--json")
	var e struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
		Hint     string `json:"hint"`
	}
	if json.Unmarshal([]byte(errOut), &e); code != 3 || e.ExitCode != 3 || !strings.Contains(e.Hint, "relaxation") {
		t.Fatalf("infeasible --json: exit %d %s", code, errOut)
	}
}

func TestPlanApplyCheckOnARealHome(t *testing.T) {
	f := newFixture(t) // a home with sites a (LU) and b (CH)
	src := filepath.Join(f.dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "register.csv"), []byte("id,name\n1,Mari\n"), 0o644)
	f.run("snapshot", "registry", src, "--class", "C2-I3-A3")
	sc := filepath.Join(f.dir, "plan.yaml")
	os.WriteFile(sc, []byte(fmt.Sprintf(planBase, filepath.Join(f.dir, "site-a"), filepath.Join(f.dir, "site-b"), filepath.Join(f.dir, "site-c"))), 0o644)

	out, _, code := f.result("plan", "check", sc)
	if code != 3 || !strings.Contains(out, "site-missing c") || !strings.Contains(out, "class-missing C2-I3-A3") || !strings.Contains(out, "site-facts a") {
		t.Fatalf("check before apply: exit %d\n%s", code, out)
	}
	out, _, code = f.result("plan", "apply", sc, "--dry-run")
	if code != 0 || !strings.Contains(out, "Would apply") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "site-c")); err == nil {
		t.Fatal("--dry-run created site c")
	}
	if _, _, code = f.result("plan", "check", sc); code != 3 {
		t.Fatalf("check after a dry run: exit %d, want 3", code)
	}
	out, errOut, code := f.result("plan", "apply", sc)
	if code != 0 || !strings.Contains(out, "Applied") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	// site c was added as 'site add' does: the vault was copied to it
	f.run("verify", "--site", "c")
	out, _, code = f.result("plan", "check", sc)
	if code != 0 || !strings.Contains(out, "matches the plan") {
		t.Fatalf("check after apply: exit %d\n%s", code, out)
	}
	out, _, code = f.result("plan", "apply", sc)
	if code != 0 || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("second apply: exit %d\n%s", code, out)
	}
	// the policy gate now enforces the plan's rule for the class
	out = f.run("policy", "explain", "registry", "--json")
	if !strings.Contains(out, `"min_jurisdictions": 2`) {
		t.Fatalf("policy explain after apply:\n%s", out)
	}
	// drift: an operator removes a planned site
	f.run("site", "remove", "c")
	out, _, code = f.result("plan", "check", sc, "--json")
	var r struct {
		Differences []struct{ Kind, Subject string }
		Conforms    bool
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 3 || r.Conforms || len(r.Differences) != 1 || r.Differences[0].Kind != "site-missing" || r.Differences[0].Subject != "c" {
		t.Fatalf("check after drift: exit %d %v\n%s", code, err, out)
	}
	// a planned site names an agreement the home has not installed
	b, _ := os.ReadFile(sc)
	os.WriteFile(sc, []byte(strings.Replace(string(b), "tier: 3, capacity-tb", "tier: 3, agreement: ee-fi, capacity-tb", 1)), 0o644)
	out, _, code = f.result("plan", "check", sc)
	if code != 3 || !strings.Contains(out, "agreement-missing c") {
		t.Fatalf("check with an uninstalled agreement: exit %d\n%s", code, out)
	}
}

func TestPlanSchemaAndStdin(t *testing.T) {
	f := &fixture{t: t, dir: t.TempDir()}
	f.home = filepath.Join(f.dir, "home")
	out, _, code := f.result("plan", "schema")
	want, err := os.ReadFile(filepath.Join("..", "..", "docs", "scenario.schema.json"))
	if code != 0 || err != nil || out != string(want) {
		t.Fatalf("plan schema: exit %d, %v, differs from docs/scenario.schema.json", code, err)
	}
	c := f.cmd("plan", "report", "-", "--trials", "1000", "--no-frontier", "--json")
	c.Stdin = strings.NewReader(fmt.Sprintf(planBase, "/x/a", "/x/b", "/x/c"))
	b, err := c.Output()
	var r struct{ Placement struct{ Sites []string } }
	if err != nil || json.Unmarshal(b, &r) != nil || len(r.Placement.Sites) != 3 {
		t.Fatalf("report from stdin: %v\n%s", err, b)
	}
}
