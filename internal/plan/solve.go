package plan

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crillab/gophersat/solver"

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

// model is a pseudo-boolean encoding of (part of) a problem.
type model struct {
	nv      int
	cons    []solver.PBConstr
	costL   []int
	costW   []int
	z       map[[3]int]int // class, option, site -> var
	y       map[[2]int]int // class, option -> var
	open    map[int]int    // site -> var
	classes []int
}

func (m *model) v() int { m.nv++; return m.nv }

func (m *model) add(cs ...solver.PBConstr) { m.cons = append(m.cons, cs...) }

func cp(l []int) []int { return append([]int(nil), l...) }

func ones(n int) []int {
	w := make([]int, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// encode builds the model of classes cls. used[si] marks sites already
// paid for (their fixed cost is zero); capLeft is each site's free capacity in units.
//
// With one class (prune), sites that cannot take a member's share are
// dropped and, among sites of the same kind (jurisdiction, region and, if
// single-homed, path), only the cheapest that a coding could use are kept:
// exchanging a member for a cheaper unused site of the same kind changes no
// constraint, so an optimum among the kept sites is an optimum overall.
func (p *problem) encode(cls []int, used map[int]bool, capLeft []int, budget float64) (*model, error) {
	prune := len(cls) == 1
	m := &model{z: map[[3]int]int{}, y: map[[2]int]int{}, open: map[int]int{}, classes: cls}
	s := p.s
	load := map[int][]int{} // site -> vars
	loadW := map[int][]int{}
	costOf := map[int]int{}
	for _, ci := range cls {
		c := &s.Classes[ci]
		var ys []int
		for oi, o := range p.opts[ci] {
			y := m.v()
			m.y[[2]int{ci, oi}] = y
			ys = append(ys, y)
			var zs []int
			byJur := map[string][]int{}
			byRegion := map[string][]int{}
			byPath := map[string][]int{}
			u := tbUnits(c.VolumeTB / float64(o.k))
			cands := p.elig[ci]
			if prune {
				cands = p.pruned(ci, o, u, used, capLeft)
			}
			for _, si := range cands {
				if !p.fits(ci, si, o) {
					continue
				}
				st := &s.Sites[si]
				z := m.v()
				m.z[[3]int{ci, oi, si}] = z
				zs = append(zs, z)
				byJur[st.Jurisdiction] = append(byJur[st.Jurisdiction], z)
				if st.Region != "" {
					byRegion[st.Region] = append(byRegion[st.Region], z)
				}
				if len(st.Paths) == 1 {
					byPath[st.Paths[0]] = append(byPath[st.Paths[0]], z)
				}
				load[si] = append(load[si], z)
				loadW[si] = append(loadW[si], u)
				cost := st.Cost.PerTBYear*float64(u)/100 + p.riskW*p.scores[st.Name].Risk
				m.costL = append(m.costL, z)
				m.costW = append(m.costW, int(math.Round(cost)))
				costOf[z] = int(math.Round(st.Cost.PerTBYear * float64(u) / 100)) // money only, for the budget
			}
			// y -> exactly n members; !y -> none
			n := o.n()
			if len(zs) < n {
				m.add(solver.PropClause(-y))
				continue
			}
			lits := append(cp(zs), y)
			w := append(ones(len(zs)), -n)
			m.add(solver.Eq(lits, w, 0)...)
			// jurisdictions: at least MinJurisdictions distinct when chosen
			if c.MinJurisdictions > 1 {
				var ws []int
				for _, jz := range sortedGroups(byJur) {
					wj := m.v()
					m.add(solver.PropClause(append([]int{-wj}, jz...)...))
					ws = append(ws, wj)
				}
				m.add(solver.GtEq(append(cp(ws), y), append(ones(len(ws)), -c.MinJurisdictions), 0))
			}
			// critical: losing one jurisdiction, region or single-homed path keeps k members
			if c.IsCritical() {
				for _, g := range [](map[string][]int){byJur, byRegion, byPath} {
					for _, gz := range sortedGroups(g) {
						if len(gz) > o.m {
							m.add(solver.LtEq(cp(gz), ones(len(gz)), o.m))
						}
					}
				}
			}
		}
		if len(ys) == 0 {
			return nil, errNoOption
		}
		m.add(solver.Eq(cp(ys), ones(len(ys)), 1)...)
	}
	var opens []int
	for si := range s.Sites {
		vs := load[si]
		if len(vs) == 0 {
			continue
		}
		capU := capLeft[si]
		tot := 0
		for _, w := range loadW[si] {
			tot += w
		}
		if tot > capU {
			m.add(solver.LtEq(cp(vs), cp(loadW[si]), capU))
		}
		if used[si] {
			continue
		}
		o := m.v()
		m.open[si] = o
		opens = append(opens, o)
		for _, z := range vs {
			m.add(solver.PropClause(-z, o))
		}
		// an open site holds something
		m.add(solver.PropClause(append([]int{-o}, vs...)...))
		fc := int(math.Round(s.Sites[si].Cost.FixedPerYear))
		m.costL = append(m.costL, o)
		m.costW = append(m.costW, fc)
		costOf[o] = fc
	}
	if s.Optimise.MaxSites > 0 {
		m.add(solver.LtEq(cp(opens), ones(len(opens)), s.Optimise.MaxSites-len(used)))
	}
	if budget > 0 {
		var l, w []int
		for _, z := range m.costL {
			if costOf[z] > 0 {
				l = append(l, z)
				w = append(w, costOf[z])
			}
		}
		if len(l) > 0 {
			m.add(solver.LtEq(l, w, int(budget)))
		}
	}
	return m, nil
}

var errNoOption = fmt.Errorf("no coding survives the required losses")

// memberCost is what one member of class ci at site si adds to the objective
// (with the site's fixed cost if it is not already paid for).
func (p *problem) memberCost(ci, si, u int, used map[int]bool) int {
	st := &p.s.Sites[si]
	c := int(math.Round(st.Cost.PerTBYear*float64(u)/100 + p.riskW*p.scores[st.Name].Risk))
	if !used[si] {
		c += int(math.Round(st.Cost.FixedPerYear))
	}
	return c
}

// pruned keeps, per kind of site, the cheapest sites a coding o can use.
func (p *problem) pruned(ci int, o option, u int, used map[int]bool, capLeft []int) []int {
	c := &p.s.Classes[ci]
	keep := o.n()
	if c.IsCritical() {
		keep = min(keep, o.m) // at most m members per jurisdiction, region, path
	}
	kinds := map[string][]int{}
	var order []string
	var all []int
	for _, si := range p.elig[ci] {
		if capLeft[si] < u || !p.fits(ci, si, o) {
			continue
		}
		all = append(all, si)
		st := &p.s.Sites[si]
		k := st.Jurisdiction
		if !c.IsCritical() {
			// Only the count and the number of jurisdictions matter: a member
			// alone in its jurisdiction can be swapped for that
			// jurisdiction's cheapest site, any other member for a cheaper
			// unused site. So the cheapest site of each jurisdiction and the
			// n cheapest overall hold an optimum.
			keep = 1
		} else {
			k += "\x00" + st.Region
			if len(st.Paths) == 1 {
				k += "\x00" + st.Paths[0]
			}
		}
		if kinds[k] == nil {
			order = append(order, k)
		}
		kinds[k] = append(kinds[k], si)
	}
	cheaper := func(l []int) {
		sort.SliceStable(l, func(a, b int) bool { return p.memberCost(ci, l[a], u, used) < p.memberCost(ci, l[b], u, used) })
	}
	in := map[int]bool{}
	for _, k := range order {
		l := kinds[k]
		cheaper(l)
		for _, si := range l[:min(len(l), keep)] {
			in[si] = true
		}
	}
	if !c.IsCritical() {
		cheaper(all)
		for _, si := range all[:min(len(all), o.n())] {
			in[si] = true
		}
	}
	out := make([]int, 0, len(in))
	for si := range in {
		out = append(out, si)
	}
	sort.Ints(out)
	return out
}

func sortedGroups(g map[string][]int) [][]int {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]int, len(keys))
	for i, k := range keys {
		out[i] = g[k]
	}
	return out
}

// Solve finds the cheapest placement of every class meeting residency,
// diversity, RPO/RTO and capacity. An impossible scenario returns an
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

// Objective is the quantity the optimiser minimises: cost plus risk weight
// times member risk, in whole currency units per term as in the encoding.
func Objective(s *Scenario, scores []SiteScore, pl *Placement) int {
	p := prepare(s, scores, SolveOptions{Tolerate: pl.Tolerate, RiskWeight: &pl.RiskWeight})
	tot := 0
	open := map[string]bool{}
	for _, c := range pl.Classes {
		cl := s.class(c.Class)
		u := tbUnits(cl.VolumeTB / float64(c.K))
		for _, sn := range c.Sites {
			st := s.site(sn)
			open[sn] = true
			tot += int(math.Round(st.Cost.PerTBYear*float64(u)/100 + p.riskW*p.scores[sn].Risk))
		}
	}
	for sn := range open {
		tot += int(math.Round(s.site(sn).Cost.FixedPerYear))
	}
	return tot
}

func (s *Scenario) class(name string) *Class {
	for i := range s.Classes {
		if s.Classes[i].Name == name {
			return &s.Classes[i]
		}
	}
	return nil
}

// Violations checks a placement against the scenario directly (not through
// the encoding): residency, eligibility, coding, diversity, capacity.
func Violations(s *Scenario, scores []SiteScore, pl *Placement, tolerate int) []string {
	p := prepare(s, scores, SolveOptions{Tolerate: tolerate})
	var out []string
	load := map[string]float64{}
	for ci, c := range s.Classes {
		var cpl *ClassPlacement
		for i := range pl.Classes {
			if pl.Classes[i].Class == c.Name {
				cpl = &pl.Classes[i]
			}
		}
		if cpl == nil {
			out = append(out, c.Name+": not placed")
			continue
		}
		okOpt := false
		for _, o := range p.opts[ci] {
			if o.k == cpl.K && o.m == cpl.M {
				okOpt = true
			}
		}
		if !okOpt {
			out = append(out, fmt.Sprintf("%s: coding %d+%d not allowed", c.Name, cpl.K, cpl.M))
		}
		if len(cpl.Sites) != cpl.K+cpl.M {
			out = append(out, fmt.Sprintf("%s: %d sites for %d+%d", c.Name, len(cpl.Sites), cpl.K, cpl.M))
		}
		jur, reg, path := map[string]int{}, map[string]int{}, map[string]int{}
		seen := map[string]bool{}
		for _, sn := range cpl.Sites {
			si := s.siteIndex(sn)
			if seen[sn] {
				out = append(out, c.Name+": site "+sn+" twice")
			}
			seen[sn] = true
			if r := p.eligible(ci, si); r != "" {
				out = append(out, c.Name+" at "+sn+": "+r)
			}
			if !p.fits(ci, si, option{k: cpl.K, m: cpl.M}) {
				out = append(out, c.Name+" at "+sn+": misses rto")
			}
			st := &s.Sites[si]
			jur[st.Jurisdiction]++
			if st.Region != "" {
				reg[st.Region]++
			}
			if len(st.Paths) == 1 {
				path[st.Paths[0]]++
			}
			load[sn] += float64(tbUnits(c.VolumeTB/float64(cpl.K))) / 100
		}
		if len(jur) < c.MinJurisdictions {
			out = append(out, fmt.Sprintf("%s: %d jurisdictions, needs %d", c.Name, len(jur), c.MinJurisdictions))
		}
		if c.IsCritical() {
			for _, g := range []map[string]int{jur, reg, path} {
				for k, n := range g {
					if n > cpl.M {
						out = append(out, fmt.Sprintf("%s: losing %s loses %d of %d members (%d may be lost)", c.Name, k, n, cpl.K+cpl.M, cpl.M))
					}
				}
			}
		}
	}
	for sn, l := range load {
		if st := s.site(sn); l > st.CapacityTB+1e-9 {
			out = append(out, fmt.Sprintf("site %s: %.2f TB over capacity %.2f", sn, l, st.CapacityTB))
		}
	}
	if s.Optimise.MaxSites > 0 && len(pl.Sites) > s.Optimise.MaxSites {
		out = append(out, fmt.Sprintf("%d sites over max-sites %d", len(pl.Sites), s.Optimise.MaxSites))
	}
	return out
}

func (s *Scenario) siteIndex(name string) int {
	for i := range s.Sites {
		if s.Sites[i].Name == name {
			return i
		}
	}
	return -1
}

// Summary renders a placement on one line per class.
func (pl *Placement) Summary() string {
	var b strings.Builder
	for _, c := range pl.Classes {
		fmt.Fprintf(&b, "%s: %s %d+%d at %s (%s)\n", c.Class, c.Scheme, c.K, c.M, strings.Join(c.Sites, ", "), strings.Join(c.Jurisdictions, ", "))
	}
	return b.String()
}

// sat solves cons (plus cost <= bound when bound >= 0) with a fresh solver,
// in the background; the result arrives on the returned channel. A solver
// abandoned at a deadline finishes this one call and exits.
func (m *model) sat(bound int) <-chan []bool {
	out := make(chan []bool, 1)
	// gophersat rewrites the slices of the constraints it parses: give it copies
	cons := make([]solver.PBConstr, len(m.cons), len(m.cons)+2)
	for i, c := range m.cons {
		cons[i] = solver.PBConstr{Lits: slices.Clone(c.Lits), Weights: slices.Clone(c.Weights), AtLeast: c.AtLeast}
	}
	all := make([]int, m.nv)
	for i := range all {
		all[i] = i + 1
	}
	cons = append(cons, solver.PBConstr{Lits: all, AtLeast: 0})
	if bound >= 0 {
		cons = append(cons, solver.LtEq(cp(m.costL), cp(m.costW), bound))
	}
	go func() {
		pb := solver.ParsePBConstrs(cons)
		if pb.Status == solver.Unsat {
			out <- nil
			return
		}
		sv := solver.New(pb)
		if sv.Solve() != solver.Sat {
			out <- nil
			return
		}
		out <- sv.Model()
	}()
	return out
}

func (m *model) cost(mod []bool) int {
	c := 0
	for i, l := range m.costL {
		if mod[l-1] {
			c += m.costW[i]
		}
	}
	return c
}

// bisect minimises the model's cost by bisection on a cost bound, one
// fresh gophersat solver per step (gophersat's own Optimal cannot be
// interrupted; a step abandoned at the deadline finishes alone and exits).
// ok is false when the model is unsatisfiable or nothing was found in time;
// optimal is false when the deadline came before the proof.
func (m *model) bisect(deadline time.Time) (best []bool, optimal, ok bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	wait := func(ch <-chan []bool) ([]bool, bool) {
		select {
		case r := <-ch:
			return r, true
		case <-timer.C:
			return nil, false
		}
	}
	r, in := wait(m.sat(-1))
	if !in {
		return nil, false, false
	}
	if r == nil {
		return nil, true, false
	}
	best, hi, lo := r, m.cost(r), 0
	for lo < hi {
		mid := lo + (hi-lo)/2
		r, in := wait(m.sat(mid))
		if !in {
			return best, false, true
		}
		if r == nil {
			lo = mid + 1
		} else {
			best, hi = r, m.cost(r)
		}
	}
	return best, true, true
}
