package plan

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
)

// ClassPlacement is where one class goes and how it is coded.
type ClassPlacement struct {
	Class         string   `json:"class"`
	Scheme        string   `json:"scheme"` // "replica" or "K+M"
	K             int      `json:"k"`      // members needed to restore
	M             int      `json:"m"`      // members that may be lost
	Sites         []string `json:"sites"`
	Jurisdictions []string `json:"jurisdictions"`
	StorageTB     float64  `json:"storage_tb"`    // total stored, all members
	RestoreHours  float64  `json:"restore_hours"` // slowest member shipping its part home
}

// Placement is a solved plan.
type Placement struct {
	Classes     []ClassPlacement `json:"classes"`
	Sites       []string         `json:"sites"` // every site used
	Cost        float64          `json:"cost_per_year"`
	FixedCost   float64          `json:"fixed_cost_per_year"`
	StorageCost float64          `json:"storage_cost_per_year"`
	Risk        float64          `json:"risk"` // sum of member-site risks
	Tolerate    int              `json:"tolerate"`
	RiskWeight  float64          `json:"risk_weight"`
	Optimal     bool             `json:"optimal"` // proven optimal for the model (Method)
	Method      string           `json:"method"`
	Variables   int              `json:"variables"`
	Elapsed     time.Duration    `json:"elapsed_ns"`
}

// option is one concrete coding of a class: K of K+M members restore it.
type option struct {
	k, m   int
	scheme string
}

func (o option) n() int { return o.k + o.m }

// SolveOptions tune Solve.
type SolveOptions struct {
	Tolerate   int           // override every class's tolerate (0: the scenario's)
	RiskWeight *float64      // override the scenario's risk weight
	TimeLimit  time.Duration // 0: the scenario's, or 20 s
	JointLimit int           // above this many placement variables, solve class by class (0: 6000)
}

// problem is the scenario prepared for the solver.
type problem struct {
	s        *Scenario
	scores   map[string]SiteScore
	tolerate []int
	override int // SolveOptions.Tolerate
	riskW    float64
	elig     [][]int // per class, eligible site indexes
	opts     [][]option
}

func prepare(s *Scenario, scores []SiteScore, o SolveOptions) *problem {
	p := &problem{s: s, scores: map[string]SiteScore{}, override: o.Tolerate}
	for _, sc := range scores {
		p.scores[sc.Site] = sc
	}
	if o.RiskWeight != nil {
		p.riskW = *o.RiskWeight
	} else if s.Optimise.RiskWeight != nil {
		p.riskW = *s.Optimise.RiskWeight
	} else {
		sum := 0.0
		for _, st := range s.Sites {
			sum += st.Cost.FixedPerYear
		}
		p.riskW = sum / float64(len(s.Sites))
	}
	for ci, c := range s.Classes {
		t := c.Tolerate
		if o.Tolerate > 0 {
			t = o.Tolerate
		}
		p.tolerate = append(p.tolerate, t)
		var el []int
		for si := range s.Sites {
			if p.eligible(ci, si) == "" {
				el = append(el, si)
			}
		}
		p.elig = append(p.elig, el)
		p.opts = append(p.opts, classOptions(c, t, len(el)))
	}
	return p
}

// classOptions expands a class's schemes into concrete codings that survive
// t site losses: "replica" becomes t+1 .. t+2 copies (at least min-copies).
func classOptions(c Class, t, eligible int) []option {
	var out []option
	for _, sch := range c.Schemes {
		k, m, _ := ParseScheme(sch)
		if m < 0 {
			lo := max(t+1, c.MinCopies, c.MinJurisdictions)
			for n := lo; n <= lo+1 && n <= eligible; n++ {
				out = append(out, option{k: 1, m: n - 1, scheme: "replica"})
			}
			continue
		}
		if m >= t && c.MinCopies <= 1 && k+m <= eligible {
			out = append(out, option{k: k, m: m, scheme: sch})
		}
	}
	return out
}

// eligible returns why site si cannot hold class ci, or "".
func (p *problem) eligible(ci, si int) string {
	c, st := &p.s.Classes[ci], &p.s.Sites[si]
	if !p.scores[st.Name].Approved {
		return "not approved (mandatory threshold)"
	}
	if len(c.Jurisdictions) > 0 {
		if !contains(c.Jurisdictions, st.Jurisdiction) {
			return "residency: " + st.Jurisdiction + " not allowed"
		}
	} else if st.Agreement == "" {
		return "no agreement"
	}
	if st.Tier < c.MinTier {
		return fmt.Sprintf("tier %d below %d", st.Tier, c.MinTier)
	}
	if c.RTOHours > 0 && restoreHours(p.s, st, c.VolumeTB) > c.RTOHours {
		// a whole copy cannot come home in time; an erasure member might
		if minShard := c.VolumeTB / float64(maxK(*c)); restoreHours(p.s, st, minShard) > c.RTOHours {
			return fmt.Sprintf("rto: %.1f h to ship even the smallest part home", restoreHours(p.s, st, minShard))
		}
	}
	if c.RPOHours > 0 && c.ChangeGBPerDay > 0 && bandwidthGbps(p.s, st) < c.ChangeGBPerDay*8/86400/float64(maxK(*c)) {
		return "rpo: paths too slow for the change rate"
	}
	return ""
}

func maxK(c Class) int {
	k := 1
	for _, sch := range c.Schemes {
		if kk, _, _ := ParseScheme(sch); kk > k {
			k = kk
		}
	}
	return k
}

// bandwidthGbps is the fastest path to a site (one cut path leaves the others).
func bandwidthGbps(s *Scenario, st *Site) float64 {
	bw := 0.0
	for _, pn := range st.Paths {
		if p := s.path(pn); p != nil && p.CapacityGbps > bw {
			bw = p.CapacityGbps
		}
	}
	return bw
}

// restoreHours is the time to ship tb terabytes home over the site's fastest path.
func restoreHours(s *Scenario, st *Site, tb float64) float64 {
	bw := bandwidthGbps(s, st)
	if bw <= 0 {
		return math.Inf(1)
	}
	return tb * 8000 / bw / 3600
}

// fits reports whether option o can hold class ci at site si within RTO.
func (p *problem) fits(ci, si int, o option) bool {
	c := &p.s.Classes[ci]
	return c.RTOHours <= 0 || restoreHours(p.s, &p.s.Sites[si], c.VolumeTB/float64(o.k)) <= c.RTOHours
}

// units of storage (10 GB) and money (1 currency unit) for integer weights.
func tbUnits(tb float64) int { return int(math.Ceil(tb * 100)) }

// *InfeasibleError naming the constraint and the nearest feasible relaxation.
func Solve(s *Scenario, scores []SiteScore, o SolveOptions) (*Placement, error) {
	pl, err := solve(s, scores, o)
	if err == errInfeasible {
		return nil, diagnose(s, scores, o)
	}
	return pl, err
}

var errInfeasible = fmt.Errorf("infeasible")

func solve(s *Scenario, scores []SiteScore, o SolveOptions) (*Placement, error) {
	start := time.Now()
	p := prepare(s, scores, o)
	limit := o.TimeLimit
	if limit == 0 {
		limit = time.Duration(s.Optimise.TimeLimitS * float64(time.Second))
	}
	if limit == 0 {
		limit = 20 * time.Second
	}
	deadline := start.Add(limit)
	jl := o.JointLimit
	if jl == 0 {
		jl = 6000
	}
	nz := 0
	for ci := range s.Classes {
		nz += len(p.elig[ci]) * len(p.opts[ci])
	}
	capLeft := make([]int, len(s.Sites))
	for i, st := range s.Sites {
		capLeft[i] = int(math.Floor(st.CapacityTB * 100))
	}
	pl := &Placement{Tolerate: o.Tolerate, RiskWeight: p.riskW, Optimal: true}
	chosen := map[int]ClassPlacement{}
	used := map[int]bool{}
	groups := [][]int{}
	if nz <= jl {
		all := make([]int, len(s.Classes))
		for i := range all {
			all[i] = i
		}
		groups = append(groups, all)
		pl.Method = "joint pseudo-boolean optimisation (gophersat)"
	} else {
		// largest classes first, each optimal given the sites the earlier ones opened
		order := make([]int, len(s.Classes))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return s.Classes[order[a]].VolumeTB > s.Classes[order[b]].VolumeTB })
		for _, ci := range order {
			groups = append(groups, []int{ci})
		}
		pl.Method = "class by class pseudo-boolean optimisation (gophersat), largest first"
	}
	budget := s.Optimise.BudgetPerYr
	for gi, g := range groups {
		m, err := p.encode(g, used, capLeft, budget)
		if err == errNoOption {
			return nil, errInfeasible
		}
		if err != nil {
			return nil, err
		}
		pl.Variables += m.nv
		// share the remaining time among the remaining groups
		left := time.Until(deadline) / time.Duration(len(groups)-gi)
		mod, optimal, ok := m.bisect(time.Now().Add(left))
		if !ok && !optimal {
			return nil, hint.Wrap(fmt.Errorf("no placement found within the time limit (%v)", limit), "raise optimise.time-limit-s in the scenario")
		}
		if !ok {
			return nil, errInfeasible
		}
		pl.Optimal = pl.Optimal && optimal
		for _, ci := range g {
			for oi, op := range p.opts[ci] {
				if !mod[m.y[[2]int{ci, oi}]-1] {
					continue
				}
				cpl := ClassPlacement{Class: s.Classes[ci].Name, Scheme: op.scheme, K: op.k, M: op.m}
				jur := map[string]bool{}
				for _, si := range p.elig[ci] {
					z, ok := m.z[[3]int{ci, oi, si}]
					if !ok || !mod[z-1] {
						continue
					}
					st := &s.Sites[si]
					cpl.Sites = append(cpl.Sites, st.Name)
					if !jur[st.Jurisdiction] {
						jur[st.Jurisdiction] = true
						cpl.Jurisdictions = append(cpl.Jurisdictions, st.Jurisdiction)
					}
					u := tbUnits(s.Classes[ci].VolumeTB / float64(op.k))
					capLeft[si] -= u
					cpl.StorageTB += float64(u) / 100
					used[si] = true
					cpl.RestoreHours = math.Max(cpl.RestoreHours, restoreHours(s, st, s.Classes[ci].VolumeTB/float64(op.k)))
				}
				sort.Strings(cpl.Jurisdictions)
				cpl.RestoreHours = math.Round(cpl.RestoreHours*100) / 100
				chosen[ci] = cpl
			}
		}
		if s.Optimise.BudgetPerYr > 0 {
			budget = s.Optimise.BudgetPerYr - costSoFar(s, chosen, used)
			if budget <= 0 && gi < len(groups)-1 {
				return nil, errInfeasible
			}
		}
	}
	for ci := range s.Classes {
		pl.Classes = append(pl.Classes, chosen[ci])
	}
	pl.price(s, p)
	pl.Elapsed = time.Since(start)
	return pl, nil
}

func costSoFar(s *Scenario, chosen map[int]ClassPlacement, used map[int]bool) float64 {
	c := 0.0
	for si := range used {
		c += s.Sites[si].Cost.FixedPerYear
	}
	for _, cp := range chosen {
		for _, sn := range cp.Sites {
			st := s.site(sn)
			c += st.Cost.PerTBYear * cp.StorageTB / float64(len(cp.Sites))
		}
	}
	return c
}

func (s *Scenario) site(name string) *Site {
	for i := range s.Sites {
		if s.Sites[i].Name == name {
			return &s.Sites[i]
		}
	}
	return nil
}

// price totals the cost and risk of a placement.
func (pl *Placement) price(s *Scenario, p *problem) {
	open := map[string]bool{}
	pl.FixedCost, pl.StorageCost, pl.Risk = 0, 0, 0
	for _, c := range pl.Classes {
		per := c.StorageTB / float64(max(1, len(c.Sites)))
		for _, sn := range c.Sites {
			st := s.site(sn)
			open[sn] = true
			pl.StorageCost += st.Cost.PerTBYear * per
			pl.Risk += p.scores[sn].Risk
		}
	}
	pl.Sites = pl.Sites[:0]
	for _, st := range s.Sites {
		if open[st.Name] {
			pl.Sites = append(pl.Sites, st.Name)
			pl.FixedCost += st.Cost.FixedPerYear
		}
	}
	pl.Cost = math.Round(pl.FixedCost + pl.StorageCost)
	pl.FixedCost = math.Round(pl.FixedCost)
	pl.StorageCost = math.Round(pl.StorageCost)
	pl.Risk = math.Round(pl.Risk*1e6) / 1e6
}
