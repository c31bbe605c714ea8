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
			golden, err := os.ReadFile(filepath.Join("testdata", "plan-report-"+strings.TrimSuffix(name, ".yaml")+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			wantRun(t, "plan report --html", f.try("plan", "report", examplePath(name), "--trials", "2000", "--no-frontier", "--html", html).masked(f.dir, "DIR"), 0, text(string(golden)), nil)
			b, err := os.ReadFile(html)
			// substring: the HTML report file (its text is the golden above): charts present, no script
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
	wantRun(t, "malformed scenario", f.try("plan", "report", bad).masked(f.dir, "DIR"), 2, nil, text(`
embassy: error: DIR/bad.yaml: line 6: classes[0].volume-tb: -1 is below the minimum 0.001
  line 12: sites[1].paths[0]: unknown path "west": declare it under paths
embassy: hint: fix the scenario (docs/SCENARIO.md; 'embassy plan schema' prints the JSON Schema)`))
	// infeasible: residency allows one jurisdiction for critical data: exit 3
	inf := write("inf.yaml", strings.Replace(good, "tolerate: 2, jurisdictions: [LU, CH, FI]}", "tolerate: 1, jurisdictions: [LU]}", 1))
	wantRun(t, "infeasible scenario", f.try("plan", "report", inf, "--trials", "100"), 3, text(`
Scenario: cli test (EE)

Posture (0 = domestic, 1 = partnership):
  compute       mix          0.50
  connectivity  mix          0.50
  storage       mix          0.50

Sites (score 0-1 per prerequisite):
  site             total enrg watr land hard cybr plcy tlnt capl   risk  status
  a                 0.25 0.00 0.00 1.00 0.00 1.00 0.00 0.00 0.00  0.20%  approved
  b                 0.25 0.00 0.00 1.00 0.00 1.00 0.00 0.00 0.00  0.20%  approved
  c                 0.16 0.00 0.00 0.55 0.00 0.75 0.00 0.00 0.00  0.50%  approved

No feasible placement: class registry: min-jurisdictions 2 cannot be met (eligible sites span only 1 jurisdiction(s): LU)
  nearest feasible relaxation: classes[0] (registry): allow jurisdiction CH (site b)`), text(`
embassy: error: no feasible placement: class registry: min-jurisdictions 2 cannot be met (eligible sites span only 1 jurisdiction(s): LU)
embassy: hint: nearest feasible relaxation: classes[0] (registry): allow jurisdiction CH (site b)`))
	golden, err := os.ReadFile(filepath.Join("testdata", "plan-infeasible.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantRun(t, "infeasible --json", f.try("plan", "report", inf, "--json"), 3, text(string(golden)), lines{
		`{"error":"no feasible placement: class registry: min-jurisdictions 2 cannot be met (eligible sites span only 1 jurisdiction(s): LU)","exit_code":3,"hint":"nearest feasible relaxation: classes[0] (registry): allow jurisdiction CH (site b)"}`,
	})
}

func TestPlanApplyCheckOnARealHome(t *testing.T) {
	f := newFixture(t) // a home with sites a (LU) and b (CH)
	src := filepath.Join(f.dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "register.csv"), []byte("id,name\n1,Mari\n"), 0o644)
	f.run("snapshot", "registry", src, "--class", "C2-I3-A3")
	sc := filepath.Join(f.dir, "plan.yaml")
	os.WriteFile(sc, []byte(fmt.Sprintf(planBase, filepath.Join(f.dir, "site-a"), filepath.Join(f.dir, "site-b"), filepath.Join(f.dir, "site-c"))), 0o644)

	const changes = `
  home home: want state=EE location=59.437,24.754 recovery-distance-km>=0, have state= location= recovery-distance-km=150
  site-facts a: want operator="" agreement="" location="49.6,6.1" tier=4, have operator="" agreement="" location="" tier=0
  site-facts b: want operator="" agreement="" location="46.2,6.1" tier=4, have operator="" agreement="" location="" tier=0
  site-missing c: want DIR/site-c (FI), have none
  class-missing C2-I3-A3: want jurisdictions=[CH FI LU] min-copies=3 min-jurisdictions=2 erasure="" min-tier=0 require-copies=true, have none`
	departs := text(`
embassy: error: the system departs from the plan in 5 ways
embassy: hint: run 'embassy plan apply DIR/plan.yaml --dry-run' to see what apply would change`)
	wantRun(t, "check before apply", f.try("plan", "check", sc).masked(f.dir, "DIR"), 3, append(lines{"5 differences from the plan:"}, text(changes)...), departs)
	wantRun(t, "dry run", f.try("plan", "apply", sc, "--dry-run").masked(f.dir, "DIR"), 0, append(lines{"Would apply 5 changes:"}, text(changes)...), nil)
	if _, err := os.Stat(filepath.Join(f.dir, "site-c")); err == nil {
		t.Fatal("--dry-run created site c")
	}
	wantRun(t, "check after a dry run", f.try("plan", "check", sc).masked(f.dir, "DIR"), 3, append(lines{"5 differences from the plan:"}, text(changes)...), departs)
	wantRun(t, "apply", f.try("plan", "apply", sc).masked(f.dir, "DIR"), 0, append(lines{"Applied 5 changes:"}, text(changes)...), nil)
	// site c was added as 'site add' does: the vault was copied to it
	f.run("verify", "--site", "c")
	wantRun(t, "check after apply", f.try("plan", "check", sc), 0, lines{"The system matches the plan."}, nil)
	wantRun(t, "second apply", f.try("plan", "apply", sc), 0, lines{"Nothing to do."}, nil)
	// the policy gate now enforces the plan's rule for the class
	wantRun(t, "policy explain after apply", f.try("policy", "explain", "registry", "--json"), 0, text(`
{
  "dataset": {
    "name": "registry",
    "class": "C2-I3-A3"
  },
  "class_policy": {
    "jurisdictions": [
      "CH",
      "FI",
      "LU"
    ],
    "min_copies": 3,
    "min_jurisdictions": 2,
    "key_policy": "sending-only",
    "require_copies": true
  },
  "sites": [
    {
      "site": {
        "name": "a",
        "jurisdiction": "LU",
        "distance_km": 1616.4581420064042,
        "tier": 4
      },
      "decision": {
        "allow": true
      }
    },
    {
      "site": {
        "name": "b",
        "jurisdiction": "CH",
        "distance_km": 1919.7749154691444,
        "tier": 4
      },
      "decision": {
        "allow": true
      }
    },
    {
      "site": {
        "name": "c",
        "jurisdiction": "FI",
        "distance_km": 551.6079932100948,
        "tier": 3
      },
      "decision": {
        "allow": true
      }
    }
  ]
}`), nil)
	// drift: an operator removes a planned site
	f.run("site", "remove", "c")
	out, _, code := f.result("plan", "check", sc, "--json")
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
	wantRun(t, "check with an uninstalled agreement", f.try("plan", "check", sc).masked(f.dir, "DIR"), 3, text(`
2 differences from the plan:
  site-missing c: want DIR/site-c (FI), have none
  agreement-missing c: want agreement ee-fi installed ('embassy agreement add FILE'), have none (plan apply cannot fix this)`), text(`
embassy: error: the system departs from the plan in 2 ways
embassy: hint: run 'embassy plan apply DIR/plan.yaml --dry-run' to see what apply would change`))
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
