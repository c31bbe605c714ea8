package plan

import (
	"fmt"
	"math"
	"strings"
)

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
