package plan

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/crillab/gophersat/solver"
)

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
