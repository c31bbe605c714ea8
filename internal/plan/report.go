package plan

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// FrontierPoint is one plan on the cost–resilience trade-off curve.
type FrontierPoint struct {
	Tolerate   int      `json:"tolerate"`
	RiskWeight float64  `json:"risk_weight"`
	Cost       float64  `json:"cost_per_year"`
	Sites      int      `json:"sites"`
	AccessLoss Estimate `json:"any_critical_access_loss"`
	WorstData  float64  `json:"worst_class_data_loss"`
	Pareto     bool     `json:"pareto"`
	Optimal    bool     `json:"optimal"`
}

// Report is everything the planner computes for a scenario.
type Report struct {
	Scenario   string             `json:"scenario"`
	State      string             `json:"state"`
	Currency   string             `json:"currency"`
	Posture    []BlockPosture     `json:"posture"`
	Scores     []SiteScore        `json:"scores"`
	Placement  *Placement         `json:"placement,omitempty"`
	Infeasible *InfeasibleError   `json:"infeasible,omitempty"`
	Simulation *SimResult         `json:"simulation,omitempty"`
	Frontier   []FrontierPoint    `json:"frontier,omitempty"`
	Findings   []string           `json:"findings,omitempty"`
	Sources    []Source           `json:"sources,omitempty"`
	Estimates  []string           `json:"estimates,omitempty"`
	Weights    map[string]float64 `json:"weights"`
}

// ReportOptions tune Build.
type ReportOptions struct {
	Trials         int  // 0: the scenario's
	FrontierTrials int  // 0: min(trials, 20000)
	NoFrontier     bool // skip the trade-off curve
	Solve          SolveOptions
}

// Build scores, places, simulates and traces the frontier. An infeasible
// scenario still yields a report (with Infeasible set) and the error.
func Build(s *Scenario, o ReportOptions) (*Report, error) {
	r := &Report{Scenario: s.Name, State: s.State, Currency: s.Currency, Sources: s.Sources, Estimates: s.Estimates, Weights: map[string]float64{}}
	for _, p := range Prerequisites {
		r.Weights[p] = s.Weights.weight(p)
	}
	r.Scores = Score(s)
	pl, err := Solve(s, r.Scores, o.Solve)
	var ie *InfeasibleError
	if errors.As(err, &ie) {
		r.Infeasible = ie
		r.Posture = PostureMap(s, nil)
		r.Findings = Findings(s, r.Scores, r.Posture)
		return r, err
	}
	if err != nil {
		return nil, err
	}
	r.Placement = pl
	r.Posture = PostureMap(s, pl)
	r.Findings = append(Findings(s, r.Scores, r.Posture), SinglePoints(s, pl)...)
	trials := o.Trials
	if trials == 0 {
		trials = s.Simulation.Trials
	}
	sim := Simulate(s, pl, trials, s.Simulation.Seed)
	r.Simulation = &sim
	if !o.NoFrontier {
		ft := o.FrontierTrials
		if ft == 0 {
			ft = min(trials, 20000)
		}
		r.Frontier = Frontier(s, r.Scores, ft, o.Solve)
	}
	return r, nil
}

// Frontier solves the scenario for 1-3 tolerated site losses and three risk
// weights (cost only, the scenario's, five times it), simulates each plan and
// marks the plans no other plan beats on both cost and access-loss risk.
func Frontier(s *Scenario, scores []SiteScore, trials int, so SolveOptions) []FrontierPoint {
	base := prepare(s, scores, so).riskW
	var pts []FrontierPoint
	seen := map[string]bool{}
	for t := 1; t <= 3; t++ {
		for _, rw := range []float64{0, base, 5 * base} {
			rw := rw
			o := so
			o.Tolerate, o.RiskWeight = t, &rw
			if o.TimeLimit == 0 {
				o.TimeLimit = 3 * time.Second
			}
			pl, err := solve(s, scores, o)
			if err != nil {
				continue
			}
			key := pl.Summary()
			if seen[key] {
				continue
			}
			seen[key] = true
			sim := Simulate(s, pl, trials, s.Simulation.Seed)
			worst := 0.0
			for _, c := range sim.Classes {
				worst = max(worst, c.DataLoss.P)
			}
			pts = append(pts, FrontierPoint{Tolerate: t, RiskWeight: rw, Cost: pl.Cost, Sites: len(pl.Sites), AccessLoss: sim.Any, WorstData: worst, Optimal: pl.Optimal})
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Cost < pts[j].Cost })
	for i := range pts {
		pts[i].Pareto = true
		for j := range pts {
			if j != i && pts[j].Cost <= pts[i].Cost && pts[j].AccessLoss.P <= pts[i].AccessLoss.P &&
				(pts[j].Cost < pts[i].Cost || pts[j].AccessLoss.P < pts[i].AccessLoss.P) {
				pts[i].Pareto = false
				break
			}
		}
	}
	return pts
}

func pct(x float64) string {
	switch {
	case x == 0:
		return "0%"
	case x < 0.0001:
		return fmt.Sprintf("%.4f%%", x*100)
	}
	return fmt.Sprintf("%.2f%%", x*100)
}

func money(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// WriteText renders the report for a terminal.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Scenario: %s (%s)\n\n", r.Scenario, r.State)
	fmt.Fprintln(w, "Posture (0 = domestic, 1 = partnership):")
	for _, b := range r.Posture {
		d := ""
		if b.Derived {
			d = ", from the plan"
		}
		fmt.Fprintf(w, "  %-13s %-12s %.2f%s\n", b.Block, b.Mode, b.Position, d)
		for _, dep := range b.Dependencies {
			fb := dep.Fallback
			if fb == "" {
				fb = "NO FALLBACK"
			}
			so := ""
			if dep.SwitchOff {
				so = " [switch-off risk]"
			}
			fmt.Fprintf(w, "    depends on %s (%s)%s; fallback: %s\n", dep.Name, dep.Kind, so, fb)
		}
	}
	fmt.Fprintln(w, "\nSites (score 0-1 per prerequisite):")
	fmt.Fprintf(w, "  %-16s %5s %4s %4s %4s %4s %4s %4s %4s %4s %6s  %s\n", "site", "total", "enrg", "watr", "land", "hard", "cybr", "plcy", "tlnt", "capl", "risk", "status")
	for _, sc := range r.Scores {
		st := "approved"
		if !sc.Approved {
			st = "NOT APPROVED"
		}
		fmt.Fprintf(w, "  %-16s %5.2f", sc.Site, sc.Total)
		for _, p := range Prerequisites {
			fmt.Fprintf(w, " %4.2f", sc.Scores[p])
		}
		fmt.Fprintf(w, " %6s  %s\n", pct(sc.Risk), st)
		for _, g := range sc.Gaps {
			m := "advisory"
			if g.Mandatory {
				m = "mandatory"
			}
			fmt.Fprintf(w, "      %s: %s\n", m, g)
		}
	}
	if r.Infeasible != nil {
		msg := r.Infeasible.Error() // "no feasible placement: ..."
		fmt.Fprintf(w, "\n%s%s\n  %s\n", strings.ToUpper(msg[:1]), msg[1:], r.Infeasible.Hint())
		return
	}
	pl := r.Placement
	opt := "proven optimal"
	if !pl.Optimal {
		opt = "best found within the time limit, not proven optimal"
	}
	fmt.Fprintf(w, "\nPlacement (%s; %s; %d variables):\n", pl.Method, opt, pl.Variables)
	for _, c := range pl.Classes {
		code := c.Scheme
		if c.Scheme == "replica" {
			code = fmt.Sprintf("%d replicas", c.K+c.M)
		}
		fmt.Fprintf(w, "  %-22s %-11s at %s (%s); %.2f TB stored, restore %.1f h\n", c.Class, code, strings.Join(c.Sites, ", "), strings.Join(c.Jurisdictions, ", "), c.StorageTB, c.RestoreHours)
	}
	fmt.Fprintf(w, "  cost %s %s/year (fixed %s, storage %s)\n", money(pl.Cost), r.Currency, money(pl.FixedCost), money(pl.StorageCost))
	if sim := r.Simulation; sim != nil {
		fmt.Fprintf(w, "\nSimulation (%d trials, seed %d; home assumed lost):\n", sim.Trials, sim.Seed)
		for _, c := range sim.Classes {
			fmt.Fprintf(w, "  %-22s access lost %s [%s, %s]  data lost %s [%s, %s]\n", c.Class, pct(c.AccessLoss.P), pct(c.AccessLoss.Low), pct(c.AccessLoss.High), pct(c.DataLoss.P), pct(c.DataLoss.Low), pct(c.DataLoss.High))
		}
		fmt.Fprintf(w, "  any critical class unreachable: %s [%s, %s]\n", pct(sim.Any.P), pct(sim.Any.Low), pct(sim.Any.High))
	}
	if len(r.Frontier) > 0 {
		fmt.Fprintln(w, "\nCost-resilience frontier (* = Pareto-optimal):")
		for _, p := range r.Frontier {
			mark := " "
			if p.Pareto {
				mark = "*"
			}
			fmt.Fprintf(w, "  %s tolerate %d, risk weight %-10s cost %14s, %2d sites, critical access lost %s\n", mark, p.Tolerate, money(p.RiskWeight), money(p.Cost), p.Sites, pct(p.AccessLoss.P))
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(w, "\nFindings:")
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  - %s\n", f)
		}
	}
}
