package plan

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// small is a valid scenario the tests edit.
const small = `format: embassy-scenario/v1
name: test
state: EE
home: {location: "59.43,24.75"}
classes:
  - {name: reg, label: C2-I3-A3, volume-tb: 2, rto-hours: 24}
thresholds:
  - {metric: pue, max: 1.3}
  - {metric: distance-km, min: 150}
paths:
  - {name: p1, kind: fibre, capacity-gbps: 10}
  - {name: p2, kind: subsea, capacity-gbps: 10}
sites:
  - {name: lu, jurisdiction: LU, location: "49.6,6.1", tier: 4, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 100, per-tb-year: 1}, energy: {pue: 1.2}, paths: [p1, p2]}
  - {name: ch, jurisdiction: CH, location: "46.2,6.1", tier: 4, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 200, per-tb-year: 1}, energy: {pue: 1.25}, paths: [p1]}
  - {name: fi, jurisdiction: FI, location: "60.2,24.9", tier: 3, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 10, per-tb-year: 1}, energy: {pue: 1.1}, paths: [p2]}
  - {name: lv, jurisdiction: LV, location: "56.9,24.1", tier: 3, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 20, per-tb-year: 1}, energy: {pue: 1.6}, paths: [p1]}
`

func parseString(t *testing.T, s string) *Scenario {
	t.Helper()
	sc, err := Parse(strings.NewReader(s), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		line           int
		path, msg      string
	}{
		{"unknown field", "tier: 4, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 100", "tier: 4, colour: red, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 100", 14, "sites[0]", "field colour not found"},
		{"wrong type", "volume-tb: 2", "volume-tb: lots", 6, "classes[0]", "cannot unmarshal"},
		{"out of range", "energy: {pue: 1.2}", "energy: {pue: 0.8}", 14, "sites[0].energy.pue", "below the minimum 1"},
		{"dangling path", "paths: [p1, p2]}", "paths: [p1, p9]}", 14, "sites[0].paths[1]", `unknown path "p9"`},
		{"missing required", "state: EE\n", "", 0, "state", "missing (required)"},
		{"home jurisdiction", "name: fi, jurisdiction: FI", "name: fi, jurisdiction: EE", 16, "sites[2].jurisdiction", "sending state itself"},
		{"duplicate site", "name: lv,", "name: lu,", 17, "sites[3].name", "used twice"},
		{"bad label", "label: C2-I3-A3", "label: C9", 6, "classes[0].label", "C9"},
		{"bad scheme", "rto-hours: 24}", "rto-hours: 24, schemes: [\"0+9\"]}", 6, "classes[0].schemes[0]", "scheme"},
		{"bad metric", "metric: pue", "metric: pue-ish", 8, "thresholds[0].metric", "unknown metric"},
		{"min above max", "{metric: pue, max: 1.3}", "{metric: pue, min: 2, max: 1.3}", 8, "thresholds[0]", "no site can pass"},
		{"wrong format", "embassy-scenario/v1", "embassy-scenario/v9", 1, "format", "this planner reads"},
		{"contradictory cooling", "energy: {pue: 1.1}", "energy: {pue: 1.1}, water: {cooling: air, wue-l-per-kwh: 3}", 16, "sites[2].water.wue-l-per-kwh", "contradicts air cooling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(small, tc.from, tc.to, 1)
			if in == small {
				t.Fatalf("edit %q did not apply", tc.from)
			}
			_, err := Parse(strings.NewReader(in), "test.yaml")
			var se *ScenarioError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a ScenarioError", err)
			}
			for _, p := range se.Problems {
				if p.Path == tc.path && strings.Contains(p.Msg, tc.msg) && (tc.line == 0 || p.Line == tc.line) {
					return
				}
			}
			t.Fatalf("no problem at line %d %s %q in:\n%v", tc.line, tc.path, tc.msg, err)
		})
	}
}

func TestParseHostileInput(t *testing.T) {
	for name, in := range map[string]string{
		"empty":       "",
		"not yaml":    "\x00\xff{[",
		"huge":        "name: " + strings.Repeat("x", MaxScenarioSize),
		"alias bomb":  "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
		"scalar root": "42",
		"nan":         strings.Replace(small, "volume-tb: 2", "volume-tb: .nan", 1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(in), "x")
			var se *ScenarioError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a ScenarioError", err)
			}
		})
	}
}

func TestScoreThresholds(t *testing.T) {
	in := strings.Replace(small, "{metric: distance-km, min: 150}", "{metric: distance-km, min: 150}\n  - {metric: renewable-share, min: 0.5, mandatory: false}\n  - {metric: water-stress, max: 3}", 1)
	in = strings.Replace(in, "energy: {pue: 1.25}", "energy: {pue: 1.25}, water: {stress-index: 2}", 1)
	s := parseString(t, in)
	sc := map[string]SiteScore{}
	for _, x := range Score(s) {
		sc[x.Site] = x
	}
	// lv misses PUE by 0.3: not approved, and the gap says by how much
	lv := sc["lv"]
	if lv.Approved {
		t.Fatal("lv approved with PUE 1.6 over a 1.3 limit")
	}
	var pue *Gap
	for i := range lv.Gaps {
		if lv.Gaps[i].Metric == "pue" {
			pue = &lv.Gaps[i]
		}
	}
	if pue == nil || !pue.Mandatory || math.Abs(pue.By-0.3) > 1e-9 || pue.Prerequisite != "energy" {
		t.Fatalf("pue gap = %+v, want mandatory energy gap of 0.3", pue)
	}
	// fi is 90 km from Tallinn: under the 150 km minimum
	fi := sc["fi"]
	if fi.Approved {
		t.Fatal("fi approved at 90 km")
	}
	// ch gives water stress 2 (passes) and no renewable share (advisory: stays approved)
	ch := sc["ch"]
	if !ch.Approved {
		t.Fatalf("ch not approved: %v", ch.Gaps)
	}
	// lu gives no water-stress fact: a mandatory threshold it cannot be checked against
	lu := sc["lu"]
	if lu.Approved {
		t.Fatal("lu approved without the water-stress fact a mandatory threshold needs")
	}
	missing := false
	for _, g := range lu.Gaps {
		missing = missing || g.Metric == "water-stress" && g.Missing
	}
	if !missing {
		t.Fatalf("lu gaps %v: want water-stress missing", lu.Gaps)
	}
	// weights change the total but not approval
	w := 10.0
	s.Weights.Cybersecurity = &w
	if Score(s)[1].Total <= ch.Total {
		t.Fatalf("raising the weight of cybersecurity (ch: tier 4) did not raise ch's total")
	}
}

func TestInfeasible(t *testing.T) {
	for _, tc := range []struct {
		name, from, to  string
		constraint, fix string
	}{
		// only LU is allowed, so two jurisdictions cannot be met
		{"residency", "rto-hours: 24}", "rto-hours: 24, jurisdictions: [LU]}", "min-jurisdictions 2", "allow jurisdiction CH"},
		// 2 TB over 10 Gbps takes 0.44 h
		{"rto", "rto-hours: 24}", "rto-hours: 0.1}", "rto-hours 0.1", "rto-hours 0.1 -> 0.5"},
		// the 150 km rule removes FI; a 100 km one would not
		{"thresholds", "min: 150}", "min: 150}\n  - {metric: tier, min: 4}", "min-jurisdictions 2", "thresholds[2] tier min 4 -> 3 (admits site ch)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := small
			if tc.name == "thresholds" {
				in = strings.Replace(in, `name: ch, jurisdiction: CH, location: "46.2,6.1", tier: 4`, `name: ch, jurisdiction: CH, location: "46.2,6.1", tier: 3`, 1)
			}
			s := parseString(t, strings.Replace(in, tc.from, tc.to, 1))
			_, err := Solve(s, Score(s), SolveOptions{})
			var ie *InfeasibleError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want InfeasibleError", err)
			}
			if ie.Class != "reg" || !strings.Contains(ie.Constraint, tc.constraint) {
				t.Fatalf("got %+v, want class reg, constraint %q", ie, tc.constraint)
			}
			if ie.Relaxation == "" {
				t.Fatalf("no relaxation in %+v", ie)
			}
			if tc.fix != "" && !strings.Contains(ie.Relaxation, tc.fix) {
				t.Fatalf("relaxation %q, want %q", ie.Relaxation, tc.fix)
			}
		})
	}
}

// randomScenario builds a small random scenario for exhaustive comparison.
func randomScenario(rng *rand.Rand, nSites int, oneClass bool) *Scenario {
	var b strings.Builder
	b.WriteString("format: embassy-scenario/v1\nname: r\nstate: EE\nhome: {location: \"59.43,24.75\"}\nclasses:\n")
	b.WriteString(fmt.Sprintf("  - {name: a, label: C2-I3-A%d, volume-tb: %d, min-jurisdictions: %d, schemes: [replica, \"2+1\"]}\n", 1+2*rng.IntN(2), 1+rng.IntN(20), rng.IntN(3)))
	if !oneClass {
		b.WriteString(fmt.Sprintf("  - {name: b, label: C1-I1-A1, volume-tb: %d, schemes: [replica, \"2+1\"]}\n", 1+rng.IntN(40)))
	}
	b.WriteString("paths:\n  - {name: p1, kind: fibre, capacity-gbps: 10}\n  - {name: p2, kind: subsea, capacity-gbps: 10}\nsites:\n")
	jurs := []string{"LU", "CH", "FI", "SE"}
	regions := []string{"r1", "r2"}
	for i := 0; i < nSites; i++ {
		paths := []string{"[p1]", "[p2]", "[p1, p2]"}[rng.IntN(3)]
		b.WriteString(fmt.Sprintf("  - {name: s%d, jurisdiction: %s, region: %s, location: \"50,10\", tier: %d, capacity-tb: %d, agreement: x, cost: {fixed-per-year: %d, per-tb-year: %d}, paths: %s}\n",
			i, jurs[rng.IntN(len(jurs))], regions[rng.IntN(2)], 1+rng.IntN(4), 10+rng.IntN(60), 10+rng.IntN(500), rng.IntN(30), paths))
	}
	s, err := Parse(strings.NewReader(b.String()), "r")
	if err != nil {
		panic(err)
	}
	return s
}

// exhaustive tries every coding and every set of sites for every class.
func exhaustive(s *Scenario, scores []SiteScore, riskW float64) (best int, found bool) {
	p := prepare(s, scores, SolveOptions{RiskWeight: &riskW})
	type cand struct{ pl ClassPlacement }
	var perClass [][]ClassPlacement
	for ci, c := range s.Classes {
		var l []ClassPlacement
		for _, o := range p.opts[ci] {
			n := len(s.Sites)
			for mask := 0; mask < 1<<n; mask++ {
				if popcount(mask) != o.n() {
					continue
				}
				cp := ClassPlacement{Class: c.Name, Scheme: o.scheme, K: o.k, M: o.m}
				for si := 0; si < n; si++ {
					if mask&(1<<si) != 0 {
						cp.Sites = append(cp.Sites, s.Sites[si].Name)
					}
				}
				l = append(l, cp)
			}
		}
		perClass = append(perClass, l)
	}
	best = math.MaxInt
	var rec func(i int, acc []ClassPlacement)
	rec = func(i int, acc []ClassPlacement) {
		if i == len(perClass) {
			pl := &Placement{Classes: acc, RiskWeight: riskW}
			open := map[string]bool{}
			for _, c := range acc {
				for _, sn := range c.Sites {
					open[sn] = true
				}
			}
			for _, st := range s.Sites {
				if open[st.Name] {
					pl.Sites = append(pl.Sites, st.Name)
				}
			}
			if len(Violations(s, scores, pl, 0)) == 0 {
				if v := Objective(s, scores, pl); v < best {
					best, found = v, true
				}
			}
			return
		}
		for _, c := range perClass[i] {
			rec(i+1, append(acc[:i:i], c))
		}
	}
	rec(0, nil)
	return best, found
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func TestSolverOptimalAgainstExhaustiveSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	feasible, infeasible := 0, 0
	for i := 0; i < 40; i++ {
		// one class: the solver prunes sites of the same kind; two: joint model
		s := randomScenario(rng, 6+i%2, i%2 == 1)
		scores := Score(s)
		rw := float64(rng.IntN(1000))
		want, ok := exhaustive(s, scores, rw)
		pl, err := Solve(s, scores, SolveOptions{RiskWeight: &rw, TimeLimit: 30 * time.Second})
		if !ok {
			var ie *InfeasibleError
			if !errors.As(err, &ie) {
				t.Fatalf("case %d: exhaustive search finds nothing, solver returned %v", i, err)
			}
			infeasible++
			continue
		}
		if err != nil {
			t.Fatalf("case %d: exhaustive search finds cost %d, solver: %v", i, want, err)
		}
		if v := Violations(s, scores, pl, 0); len(v) > 0 {
			t.Fatalf("case %d: solver placement breaks the scenario: %v", i, v)
		}
		if !pl.Optimal {
			t.Fatalf("case %d: not proven optimal", i)
		}
		if got := Objective(s, scores, pl); got != want {
			t.Fatalf("case %d: solver objective %d, exhaustive optimum %d\n%s", i, got, want, pl.Summary())
		}
		feasible++
	}
	if feasible < 10 || infeasible == 0 && feasible < 25 {
		t.Logf("feasible %d, infeasible %d", feasible, infeasible)
	}
	if feasible < 10 {
		t.Fatalf("only %d feasible random cases: the generator no longer exercises the solver", feasible)
	}
}

func TestSimulation(t *testing.T) {
	// two replicas, each destroyed independently with p = 0.1, no paths cut:
	// data and access are lost with p = 0.01
	in := strings.Replace(small, `energy: {pue: 1.25}, paths: [p1]}`, `energy: {pue: 1.25}, paths: [p1], failure-probability: 0.1}`, 1)
	in = strings.Replace(in, `energy: {pue: 1.2}, paths: [p1, p2]}`, `energy: {pue: 1.2}, paths: [p1, p2], failure-probability: 0.1}`, 1)
	s := parseString(t, in)
	pl, err := Solve(s, Score(s), SolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Classes[0].Sites) != 2 {
		t.Fatalf("placement %s: want 2 replicas", pl.Summary())
	}
	a := Simulate(s, pl, 100000, 9)
	b := Simulate(s, pl, 100000, 9)
	a.Elapsed, b.Elapsed = 0, 0
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different results:\n%v\n%v", a, b)
	}
	e := a.Classes[0].DataLoss
	if !(e.Low <= 0.01 && 0.01 <= e.High) {
		t.Fatalf("data loss %v: 95%% CI does not contain the exact 0.01", e)
	}
	if a.Classes[0].AccessLoss.Hits < e.Hits {
		t.Fatalf("fewer access losses (%d) than data losses (%d)", a.Classes[0].AccessLoss.Hits, e.Hits)
	}
	// the interval narrows as 1/sqrt(trials): 4x the trials, about half the width
	w1 := Simulate(s, pl, 25000, 5).Classes[0].DataLoss
	w4 := Simulate(s, pl, 100000, 5).Classes[0].DataLoss
	r := (w1.High - w1.Low) / (w4.High - w4.Low)
	if r < 1.6 || r > 2.5 {
		t.Fatalf("CI width ratio %.2f for 4x trials, want about 2", r)
	}
	// a correlated event that destroys both sites dominates
	s.Events = []Event{{Name: "both", Kind: "disaster", Probability: 0.05, Sites: pl.Classes[0].Sites}}
	c := Simulate(s, pl, 100000, 9).Classes[0].DataLoss
	if want := 0.05 + 0.95*0.01; !(c.Low <= want && want <= c.High) {
		t.Fatalf("with a correlated disaster: %v, want about %.4f", c, want)
	}
}

func TestWilson(t *testing.T) {
	e := Wilson(0, 1000)
	if e.P != 0 || e.Low != 0 || e.High < 0.003 || e.High > 0.004 {
		t.Fatalf("Wilson(0, 1000) = %+v, want upper bound about 0.0038", e)
	}
	e = Wilson(500, 1000)
	if math.Abs(e.Low-0.469) > 0.001 || math.Abs(e.High-0.531) > 0.001 {
		t.Fatalf("Wilson(500, 1000) = %+v, want [0.469, 0.531]", e)
	}
}

// TestJSONSchema keeps docs/scenario.schema.json in step with the Go types.
func TestJSONSchema(t *testing.T) {
	p := filepath.Join("..", "..", "docs", "scenario.schema.json")
	if *update {
		if err := os.WriteFile(p, JSONSchema(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, JSONSchema()) {
		t.Fatalf("docs/scenario.schema.json is stale: run go test ./internal/plan -run TestJSONSchema -update (%v)", err)
	}
}

func TestHTMLEscapesScenarioText(t *testing.T) {
	s := parseString(t, strings.Replace(small, "name: test", `name: "<script>alert(1)</script>"`, 1))
	s.Sources = []Source{{ID: "x", Title: "<img src=x onerror=alert(1)>", URL: "javascript:alert(1)"}}
	s.Posture.Storage.Partners = []Partner{{Name: `"><svg onload=alert(1)>`}}
	r, err := Build(s, ReportOptions{Trials: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script>alert", "<img src=x", "javascript:alert", "<svg onload"} {
		if strings.Contains(out, bad) {
			t.Fatalf("HTML report contains %q unescaped", bad)
		}
	}
	if strings.Count(out, "<svg") < 4 {
		t.Fatalf("want the four charts, got %d <svg> elements", strings.Count(out, "<svg"))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(small))
	for _, n := range []string{"baltic.yaml", "gulf.yaml", "pacific.yaml"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "examples", "scenarios", n)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("format: embassy-scenario/v1\nsites: [{paths: [x]}]\n"))
	f.Add([]byte("classes: [{schemes: [\"99+99\"]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(bytes.NewReader(data), "fuzz")
		if err != nil {
			var se *ScenarioError
			if !errors.As(err, &se) || len(se.Problems) == 0 {
				t.Fatalf("error %v is not a ScenarioError with problems", err)
			}
			return
		}
		scores := Score(s)
		if len(scores) != len(s.Sites) {
			t.Fatal("a score per site")
		}
		for _, sc := range scores {
			if math.IsNaN(sc.Total) || sc.Total < 0 || sc.Total > 1 {
				t.Fatalf("total score %v outside 0..1", sc.Total)
			}
		}
	})
}

// TestFieldReference keeps the field table in docs/SCENARIO.md in step.
func TestFieldReference(t *testing.T) {
	p := filepath.Join("..", "..", "docs", "SCENARIO.md")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const open, end = "<!-- fields -->\n", "<!-- /fields -->"
	i, j := bytes.Index(b, []byte(open)), bytes.Index(b, []byte(end))
	if i < 0 || j < i {
		t.Fatal("docs/SCENARIO.md lacks the field markers")
	}
	want := append(append(append([]byte{}, b[:i+len(open)]...), FieldReference()...), b[j:]...)
	if *update {
		os.WriteFile(p, want, 0o644)
		return
	}
	if !bytes.Equal(b, want) {
		t.Fatal("docs/SCENARIO.md field reference is stale: run go test ./internal/plan -run TestFieldReference -update")
	}
}

// TestReportGolden is a known-answer test of the whole pipeline on the
// Baltic example: scores, gaps, placement and simulation (seeded).
func TestReportGolden(t *testing.T) {
	for _, name := range []string{"baltic", "pacific"} {
		t.Run(name, func(t *testing.T) {
			s := loadExample(t, name+".yaml")
			r, err := Build(s, ReportOptions{Trials: 20000, NoFrontier: true})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			r.WriteText(&b)
			p := filepath.Join("testdata", name+".txt")
			if *update {
				os.WriteFile(p, b.Bytes(), 0o644)
			}
			want, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(want, b.Bytes()) {
				t.Fatalf("report differs from %s (go test ./internal/plan -run TestReportGolden -update to accept):\n%s", p, b.String())
			}
		})
	}
}

func TestBudget(t *testing.T) {
	s := parseString(t, small)
	pl, err := Solve(s, Score(s), SolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// the cheapest plan fits a budget of its own cost, not one a unit less
	s.Optimise.BudgetPerYr = pl.Cost
	if _, err := Solve(s, Score(s), SolveOptions{}); err != nil {
		t.Fatalf("budget = cost of the cheapest plan: %v", err)
	}
	s.Optimise.BudgetPerYr = pl.Cost - 1
	_, err = Solve(s, Score(s), SolveOptions{})
	var ie *InfeasibleError
	if !errors.As(err, &ie) || !strings.Contains(ie.Relaxation, "budget") {
		t.Fatalf("budget below the cheapest plan: %v, want infeasible with a budget relaxation", err)
	}
}
