package plan

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// InfeasibleError says which constraint cannot be met and the nearest
// relaxation that makes the scenario feasible (checked by solving it).
type InfeasibleError struct {
	Class      string `json:"class,omitempty"`
	Constraint string `json:"constraint"`
	Detail     string `json:"detail"`
	Relaxation string `json:"relaxation,omitempty"` // empty: none found among those tried
}

func (e *InfeasibleError) Error() string {
	who := "the scenario"
	if e.Class != "" {
		who = "class " + e.Class
	}
	return fmt.Sprintf("no feasible placement: %s: %s cannot be met (%s)", who, e.Constraint, e.Detail)
}

// Hint is the nearest feasible relaxation, for the operator.
func (e *InfeasibleError) Hint() string {
	if e.Relaxation == "" {
		return "no single relaxation tried makes it feasible: add candidate sites or loosen several constraints"
	}
	return "nearest feasible relaxation: " + e.Relaxation
}

// relaxation is a candidate change to the scenario, with its size.
type relaxation struct {
	text  string
	cost  float64 // relative size of the change; smaller is nearer
	apply func(*Scenario)
}

// diagnose explains why a scenario has no placement.
func diagnose(s *Scenario, scores []SiteScore, o SolveOptions) error {
	e := &InfeasibleError{Constraint: "capacity, budget or site limit", Detail: "every class can be placed alone but not all together"}
	p := prepare(s, scores, o)
	for ci, c := range s.Classes {
		if d := classBlocker(s, p, ci); d != nil {
			e = d
			e.Class = c.Name
			break
		}
		one := *s
		one.Classes = []Class{c}
		one.Optimise.BudgetPerYr, one.Optimise.MaxSites = 0, 0
		if _, err := solve(&one, scores, SolveOptions{Tolerate: o.Tolerate, RiskWeight: o.RiskWeight, TimeLimit: 2 * time.Second}); err == errInfeasible {
			e = &InfeasibleError{Class: c.Name, Constraint: "diversity", Detail: fmt.Sprintf("no choice of %s among the %d eligible sites survives losing one jurisdiction, region or single-homed path", strings.Join(c.Schemes, "/"), len(p.elig[ci]))}
			break
		}
	}
	if e.Constraint == "capacity, budget or site limit" {
		need, have := 0.0, 0.0
		for ci, c := range s.Classes {
			need += c.VolumeTB * float64(p.tolerate[ci]+1) / float64(maxK(c))
		}
		for i, st := range s.Sites {
			if scores[i].Approved {
				have += st.CapacityTB
			}
		}
		e.Detail += fmt.Sprintf("; about %.0f TB needed, %.0f TB at approved sites", need, have)
	}
	rs := relaxations(s, scores, p)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].cost < rs[j].cost })
	deadline := time.Now().Add(10 * time.Second)
	for i, r := range rs {
		if i >= 40 || time.Now().After(deadline) {
			break
		}
		t := cloneScenario(s)
		r.apply(t)
		sc := Score(t)
		if _, err := solve(t, sc, SolveOptions{Tolerate: o.Tolerate, RiskWeight: o.RiskWeight, TimeLimit: 2 * time.Second}); err == nil {
			e.Relaxation = r.text
			break
		}
	}
	return e
}

// classBlocker finds a constraint that no site or coding can meet for class ci.
func classBlocker(s *Scenario, p *problem, ci int) *InfeasibleError {
	c := &s.Classes[ci]
	if len(p.elig[ci]) == 0 {
		reasons := map[string]int{}
		for si := range s.Sites {
			r := p.eligible(ci, si)
			reasons[strings.SplitN(r, ":", 2)[0]]++
		}
		constraint := "eligibility"
		switch {
		case reasons["rto"] > 0:
			constraint = fmt.Sprintf("rto-hours %s", fmtNum(c.RTOHours))
		case reasons["rpo"] > 0:
			constraint = fmt.Sprintf("rpo-hours %s", fmtNum(c.RPOHours))
		case reasons["residency"] > 0 && reasons["not approved (mandatory threshold)"] == 0:
			constraint = fmt.Sprintf("residency %v", c.Jurisdictions)
		}
		return &InfeasibleError{Constraint: constraint, Detail: "no candidate site may hold it: " + countList(reasons)}
	}
	jur := map[string]bool{}
	for _, si := range p.elig[ci] {
		jur[s.Sites[si].Jurisdiction] = true
	}
	if len(jur) < c.MinJurisdictions {
		return &InfeasibleError{Constraint: fmt.Sprintf("min-jurisdictions %d", c.MinJurisdictions),
			Detail: fmt.Sprintf("eligible sites span only %d jurisdiction(s): %s", len(jur), strings.Join(sortedKeys(jur), ", "))}
	}
	if len(p.opts[ci]) == 0 {
		return &InfeasibleError{Constraint: fmt.Sprintf("tolerate %d site loss(es)", p.tolerate[ci]),
			Detail: fmt.Sprintf("schemes %s need more members than the %d eligible sites", strings.Join(c.Schemes, ", "), len(p.elig[ci]))}
	}
	if c.RTOHours > 0 {
		fit := 0
		for _, o := range p.opts[ci] {
			n := 0
			for _, si := range p.elig[ci] {
				if p.fits(ci, si, o) {
					n++
				}
			}
			if n >= o.n() {
				fit++
			}
		}
		if fit == 0 {
			return &InfeasibleError{Constraint: fmt.Sprintf("rto-hours %s", fmtNum(c.RTOHours)),
				Detail: "too few sites can ship their part home in time over their fastest path"}
		}
	}
	return nil
}

func countList(m map[string]int) string {
	var l []string
	for _, k := range sortedKeys(m) {
		l = append(l, fmt.Sprintf("%s (%d)", k, m[k]))
	}
	return strings.Join(l, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}

// relaxations lists candidate single changes, each with its relative size.
func relaxations(s *Scenario, scores []SiteScore, p *problem) []relaxation {
	var rs []relaxation
	// a mandatory threshold loosened just enough to admit one more site
	for ti, t := range s.Thresholds {
		if t.Mandatory != nil && !*t.Mandatory {
			continue
		}
		for i, sc := range scores {
			for _, g := range sc.Gaps {
				if g.Metric != t.Metric || !g.Mandatory || g.Missing {
					continue
				}
				ti, lim := ti, g.Value
				rel := g.By / math.Max(math.Abs(g.Limit), 1e-9)
				text := fmt.Sprintf("thresholds[%d] %s %s %s -> %s (admits site %s)", ti, t.Metric, g.Bound, fmtNum(g.Limit), round(lim), s.Sites[i].Name)
				rs = append(rs, relaxation{text: text, cost: rel, apply: func(x *Scenario) {
					if g.Bound == "min" {
						x.Thresholds[ti].Min = &lim
					} else {
						x.Thresholds[ti].Max = &lim
					}
				}})
			}
		}
	}
	for ci, c := range s.Classes {
		ci := ci
		if c.MinJurisdictions > 1 {
			rs = append(rs, relaxation{text: fmt.Sprintf("classes[%d] (%s) min-jurisdictions %d -> %d", ci, c.Name, c.MinJurisdictions, c.MinJurisdictions-1),
				cost: 1 / float64(c.MinJurisdictions), apply: func(x *Scenario) { x.Classes[ci].MinJurisdictions-- }})
		}
		if len(c.Jurisdictions) > 0 {
			offered := map[string]bool{}
			for _, sc := range scores {
				st := s.site(sc.Site)
				if sc.Approved && !contains(c.Jurisdictions, st.Jurisdiction) {
					j := st.Jurisdiction
					if offered[j] {
						continue
					}
					offered[j] = true
					rs = append(rs, relaxation{text: fmt.Sprintf("classes[%d] (%s): allow jurisdiction %s (site %s)", ci, c.Name, j, st.Name), cost: 0.5,
						apply: func(x *Scenario) { x.Classes[ci].Jurisdictions = append(x.Classes[ci].Jurisdictions, j) }})
				}
			}
		}
		if c.RTOHours > 0 {
			best := math.Inf(1)
			for si := range s.Sites {
				if scores[si].Approved {
					best = math.Min(best, restoreHours(s, &s.Sites[si], c.VolumeTB/float64(maxK(c))))
				}
			}
			if !math.IsInf(best, 0) && best > c.RTOHours {
				h := math.Ceil(best*10) / 10
				rs = append(rs, relaxation{text: fmt.Sprintf("classes[%d] (%s) rto-hours %s -> %s", ci, c.Name, fmtNum(c.RTOHours), fmtNum(h)),
					cost: (h - c.RTOHours) / c.RTOHours, apply: func(x *Scenario) { x.Classes[ci].RTOHours = h }})
			}
		}
		if p.tolerate[ci] > 1 {
			rs = append(rs, relaxation{text: fmt.Sprintf("classes[%d] (%s) tolerate %d -> %d", ci, c.Name, p.tolerate[ci], p.tolerate[ci]-1),
				cost: 0.6, apply: func(x *Scenario) { x.Classes[ci].Tolerate = p.tolerate[ci] - 1 }})
		}
		if !contains(c.Schemes, "2+1") && c.MinCopies <= 1 {
			rs = append(rs, relaxation{text: fmt.Sprintf("classes[%d] (%s): also allow erasure code 2+1", ci, c.Name), cost: 0.3,
				apply: func(x *Scenario) { x.Classes[ci].Schemes = append(x.Classes[ci].Schemes, "2+1") }})
		}
	}
	if s.Optimise.MaxSites > 0 {
		rs = append(rs, relaxation{text: fmt.Sprintf("optimise.max-sites %d -> %d", s.Optimise.MaxSites, s.Optimise.MaxSites+1), cost: 1 / float64(s.Optimise.MaxSites),
			apply: func(x *Scenario) { x.Optimise.MaxSites++ }})
	}
	if b := s.Optimise.BudgetPerYr; b > 0 {
		// the cost of the cheapest plan without the cap is the budget needed
		t := cloneScenario(s)
		t.Optimise.BudgetPerYr = 0
		zero := 0.0 // money only
		if pl, err := solve(t, scores, SolveOptions{Tolerate: p.tolerateOverride(), RiskWeight: &zero, TimeLimit: 2 * time.Second}); err == nil && pl.Cost > b {
			need := math.Ceil(pl.Cost)
			rs = append(rs, relaxation{text: fmt.Sprintf("optimise.budget-per-year %s -> %s", fmtNum(b), fmtNum(need)), cost: (need - b) / b,
				apply: func(x *Scenario) { x.Optimise.BudgetPerYr = need }})
		}
	}
	return rs
}

// tolerateOverride is the Tolerate option the problem was prepared with (0: none).
func (p *problem) tolerateOverride() int { return p.override }

// cloneScenario copies the parts relaxations change.
func cloneScenario(s *Scenario) *Scenario {
	t := *s
	t.Thresholds = append([]Threshold(nil), s.Thresholds...)
	t.Classes = append([]Class(nil), s.Classes...)
	for i := range t.Classes {
		t.Classes[i].Jurisdictions = append([]string(nil), s.Classes[i].Jurisdictions...)
		t.Classes[i].Schemes = append([]string(nil), s.Classes[i].Schemes...)
	}
	return &t
}
