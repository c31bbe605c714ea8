package plan

import (
	"fmt"

	"github.com/digital-embassy/embassy/internal/class"
)

// check finds dangling references, duplicates and contradictory facts.
func (s *Scenario) check(add func(string, string, ...any)) {
	if len(s.Sites) > MaxSites || len(s.Classes) > MaxClasses || len(s.Paths) > MaxPaths || len(s.Events) > MaxEvents {
		add("", "too large: at most %d sites, %d classes, %d paths and %d events", MaxSites, MaxClasses, MaxPaths, MaxEvents)
		return
	}
	paths := map[string]bool{}
	for i, p := range s.Paths {
		if paths[p.Name] {
			add(fmt.Sprintf("paths[%d].name", i), "%q is used twice", p.Name)
		}
		paths[p.Name] = true
		if p.Kind == "satellite" && p.LatencyMs > 0 && p.LatencyMs < 2 {
			add(fmt.Sprintf("paths[%d].latency-ms", i), "%s ms is impossible for a satellite path (light needs more)", fmtNum(p.LatencyMs))
		}
	}
	for i, p := range s.Home.Paths {
		if !paths[p] {
			add(fmt.Sprintf("home.paths[%d]", i), "unknown path %q: declare it under paths", p)
		}
	}
	sources := map[string]bool{}
	for _, src := range s.Sources {
		sources[src.ID] = true
	}
	sites := map[string]bool{}
	regions := map[string]bool{}
	jurs := map[string]bool{}
	for i, st := range s.Sites {
		p := fmt.Sprintf("sites[%d]", i)
		if sites[st.Name] {
			add(p+".name", "%q is used twice", st.Name)
		}
		sites[st.Name] = true
		if st.Region != "" {
			regions[st.Region] = true
		}
		jurs[st.Jurisdiction] = true
		seen := map[string]bool{}
		for j, pn := range st.Paths {
			if !paths[pn] {
				add(fmt.Sprintf("%s.paths[%d]", p, j), "unknown path %q: declare it under paths", pn)
			}
			if seen[pn] {
				add(fmt.Sprintf("%s.paths[%d]", p, j), "path %q is listed twice", pn)
			}
			seen[pn] = true
		}
		for j, id := range st.Sources {
			if !sources[id] {
				add(fmt.Sprintf("%s.sources[%d]", p, j), "unknown source %q: declare it under sources", id)
			}
		}
		if st.Jurisdiction == s.State {
			add(p+".jurisdiction", "%s is the sending state itself: a host site abroad must be in another jurisdiction (put domestic capacity under home.domestic)", st.Jurisdiction)
		}
		if st.Water.Cooling == "air" || st.Water.Cooling == "free-air" {
			if st.Water.WUE != nil && *st.Water.WUE > 1 {
				add(p+".water.wue-l-per-kwh", "%s L/kWh contradicts %s cooling (which uses almost no water)", fmtNum(*st.Water.WUE), st.Water.Cooling)
			}
		}
		if st.Energy.RenewableShare != nil && st.Energy.CarbonGPerKWh != nil && *st.Energy.RenewableShare >= 0.99 && *st.Energy.CarbonGPerKWh > 100 {
			add(p+".energy", "a fully renewable supply cannot have a grid intensity of %s g/kWh", fmtNum(*st.Energy.CarbonGPerKWh))
		}
	}
	for i, c := range s.Classes {
		p := fmt.Sprintf("classes[%d]", i)
		for j := 0; j < i; j++ {
			if s.Classes[j].Name == c.Name {
				add(p+".name", "%q is used twice", c.Name)
			}
		}
		if c.MinJurisdictions > 0 && len(c.Jurisdictions) > 0 && c.MinJurisdictions > len(c.Jurisdictions) {
			add(p+".min-jurisdictions", "%d jurisdictions cannot be met when residency allows only %d (%v)", c.MinJurisdictions, len(c.Jurisdictions), c.Jurisdictions)
		}
		for j, jur := range c.Jurisdictions {
			if jur == s.State {
				add(fmt.Sprintf("%s.jurisdictions[%d]", p, j), "%s is the sending state: residency lists host jurisdictions abroad", jur)
			}
		}
		for j, sc := range c.Schemes {
			for k := 0; k < j; k++ {
				if c.Schemes[k] == sc {
					add(fmt.Sprintf("%s.schemes[%d]", p, j), "%q is listed twice", sc)
				}
			}
		}
	}
	for i, t := range s.Thresholds {
		p := fmt.Sprintf("thresholds[%d]", i)
		if t.Min == nil && t.Max == nil {
			add(p, "needs min or max")
		}
		if t.Min != nil && t.Max != nil && *t.Min > *t.Max {
			add(p, "min %s is above max %s: no site can pass", fmtNum(*t.Min), fmtNum(*t.Max))
		}
	}
	for i, e := range s.Events {
		p := fmt.Sprintf("events[%d]", i)
		if len(e.Regions)+len(e.Paths)+len(e.Jurisdictions)+len(e.Sites) == 0 {
			add(p, "affects nothing: name regions, paths, jurisdictions or sites")
		}
		for j, r := range e.Regions {
			if !regions[r] {
				add(fmt.Sprintf("%s.regions[%d]", p, j), "no site is in region %q", r)
			}
		}
		for j, pn := range e.Paths {
			if !paths[pn] {
				add(fmt.Sprintf("%s.paths[%d]", p, j), "unknown path %q", pn)
			}
		}
		for j, sn := range e.Sites {
			if !sites[sn] {
				add(fmt.Sprintf("%s.sites[%d]", p, j), "unknown site %q", sn)
			}
		}
	}
	for _, b := range []struct {
		name string
		b    Block
	}{{"compute", s.Posture.Compute}, {"connectivity", s.Posture.Connectivity}, {"storage", s.Posture.Storage}} {
		p := "posture." + b.name
		if b.b.Mode == "domestic" && len(b.b.Partners) > 0 {
			add(p+".partners", "a domestic posture names %d partner(s): use mode mix or partnership", len(b.b.Partners))
		}
		if b.b.Mode == "partnership" && len(b.b.Partners) == 0 {
			add(p+".partners", "a partnership posture needs at least one named partner")
		}
		if b.b.Position != nil && b.b.Mode != "" {
			x := *b.b.Position
			if b.b.Mode == "domestic" && x > 0.34 || b.b.Mode == "partnership" && x < 0.66 || b.b.Mode == "mix" && (x == 0 || x == 1) {
				add(p+".position", "%s contradicts mode %s (domestic: 0-0.33, mix: between, partnership: 0.66-1)", fmtNum(x), b.b.Mode)
			}
		}
	}
	if s.Needs.ComputeMW > 0 {
		// provable only when every site states its available power
		total, known := s.Home.Domestic.ComputeMW, true
		for _, st := range s.Sites {
			if st.Energy.AvailableMW != nil {
				total += *st.Energy.AvailableMW
			} else {
				known = false
			}
		}
		if known && total < s.Needs.ComputeMW {
			add("needs.compute-mw", "%s MW needed but home and every site together offer %s MW", fmtNum(s.Needs.ComputeMW), fmtNum(total))
		}
	}
}

// defaults fills what the format leaves optional.
func (s *Scenario) defaults() {
	if s.Currency == "" {
		s.Currency = "EUR"
	}
	if s.Simulation.Trials == 0 {
		s.Simulation.Trials = 100000
	}
	if s.Simulation.Seed == 0 {
		s.Simulation.Seed = 1
	}
	for i := range s.Classes {
		c := &s.Classes[i]
		if c.Critical == nil {
			l, _ := class.Parse(c.Label)
			crit := l.A >= 3
			c.Critical = &crit
		}
		if c.MinJurisdictions == 0 {
			c.MinJurisdictions = 1
			if *c.Critical {
				c.MinJurisdictions = 2
			}
		}
		if c.Tolerate == 0 {
			c.Tolerate = 1
		}
		if len(c.Schemes) == 0 {
			c.Schemes = []string{"replica"}
		}
	}
}

// IsCritical reports whether the class needs jurisdiction and path diversity.
func (c Class) IsCritical() bool { return c.Critical != nil && *c.Critical }

// Failure returns the site's chance of destruction over the horizon.
func (st Site) Failure() float64 {
	if st.FailureProb != nil {
		return *st.FailureProb
	}
	// Uptime Institute tiers as a rough proxy (an estimate, not a sourced figure).
	return [...]float64{0.05, 0.02, 0.01, 0.005, 0.002}[st.Tier]
}
