package plan

import (
	"math"
	"math/rand/v2"
	"time"
)

// Estimate is a probability with its 95% confidence interval (Wilson score).
type Estimate struct {
	P    float64 `json:"p"`
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	Hits int     `json:"hits"`
}

// Wilson returns the estimate of hits in n trials with its 95% Wilson interval.
func Wilson(hits, n int) Estimate {
	if n == 0 {
		return Estimate{High: 1}
	}
	const z = 1.959963984540054
	p := float64(hits) / float64(n)
	nf := float64(n)
	den := 1 + z*z/nf
	centre := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return Estimate{P: p, Low: math.Max(0, centre-half), High: math.Min(1, centre+half), Hits: hits}
}

// ClassRisk is one class's simulated outcome.
type ClassRisk struct {
	Class      string   `json:"class"`
	AccessLoss Estimate `json:"access_loss"` // fewer than K members reachable from home
	DataLoss   Estimate `json:"data_loss"`   // fewer than K members survive at all
}

// SimResult is a Monte-Carlo run over one placement.
type SimResult struct {
	Trials  int           `json:"trials"`
	Seed    uint64        `json:"seed"`
	Classes []ClassRisk   `json:"classes"`
	Any     Estimate      `json:"any_critical_access_loss"` // some critical class unreachable
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Simulate draws trials independent years (the scenario's horizon). In
// each, every site may be destroyed and every path cut on its own, and every
// correlated event may strike: a blackout makes its regions' sites
// unreachable, a cable cut severs its paths, a hostile host seizes (and may
// wipe) every site in its jurisdictions, sanctions make them unusable, a
// disaster destroys its sites. The home itself is assumed lost: the sites
// alone must serve and restore each class. The same seed gives the same result.
func Simulate(s *Scenario, pl *Placement, trials int, seed uint64) SimResult {
	start := time.Now()
	rng := rand.New(rand.NewPCG(seed, 0x656d62617373))
	ns, np := len(s.Sites), len(s.Paths)
	pathIdx := map[string]int{}
	for i, p := range s.Paths {
		pathIdx[p.Name] = i
	}
	sitePaths := make([][]int, ns)
	for i, st := range s.Sites {
		for _, pn := range st.Paths {
			sitePaths[i] = append(sitePaths[i], pathIdx[pn])
		}
	}
	// what each event does, as index lists
	type effect struct {
		p                  float64
		down, destroy, cut []int
		seize              bool
	}
	effects := make([]effect, len(s.Events))
	for ei, e := range s.Events {
		ef := effect{p: e.Probability}
		for si, st := range s.Sites {
			hit := contains(e.Sites, st.Name) || st.Region != "" && contains(e.Regions, st.Region) || contains(e.Jurisdictions, st.Jurisdiction)
			if !hit {
				continue
			}
			switch e.Kind {
			case "disaster":
				ef.destroy = append(ef.destroy, si)
			case "hostile-host":
				ef.destroy = append(ef.destroy, si) // seized: assume the copy is gone to us
			default:
				ef.down = append(ef.down, si)
			}
		}
		for _, pn := range e.Paths {
			ef.cut = append(ef.cut, pathIdx[pn])
		}
		effects[ei] = ef
	}
	type member struct{ sites []int }
	members := make([]member, len(pl.Classes))
	crit := make([]bool, len(pl.Classes))
	for ci, c := range pl.Classes {
		for _, sn := range c.Sites {
			members[ci].sites = append(members[ci].sites, s.siteIndex(sn))
		}
		if cl := s.class(c.Class); cl != nil {
			crit[ci] = cl.IsCritical()
		}
	}
	fail := make([]float64, ns)
	for i, st := range s.Sites {
		fail[i] = st.Failure()
	}
	destroyed := make([]bool, ns)
	down := make([]bool, ns)
	cut := make([]bool, np)
	accessHits := make([]int, len(pl.Classes))
	dataHits := make([]int, len(pl.Classes))
	anyHits := 0
	for t := 0; t < trials; t++ {
		for i := range destroyed {
			destroyed[i] = rng.Float64() < fail[i]
			down[i] = false
		}
		for i, p := range s.Paths {
			cut[i] = rng.Float64() < p.CutProbability
		}
		for _, ef := range effects {
			if rng.Float64() >= ef.p {
				continue
			}
			for _, si := range ef.destroy {
				destroyed[si] = true
			}
			for _, si := range ef.down {
				down[si] = true
			}
			for _, pi := range ef.cut {
				cut[pi] = true
			}
		}
		anyLost := false
		for ci, m := range members {
			alive, reach := 0, 0
			for _, si := range m.sites {
				if destroyed[si] {
					continue
				}
				alive++
				if down[si] {
					continue
				}
				for _, pi := range sitePaths[si] {
					if !cut[pi] {
						reach++
						break
					}
				}
			}
			k := pl.Classes[ci].K
			if alive < k {
				dataHits[ci]++
			}
			if reach < k {
				accessHits[ci]++
				if crit[ci] {
					anyLost = true
				}
			}
		}
		if anyLost {
			anyHits++
		}
	}
	r := SimResult{Trials: trials, Seed: seed, Any: Wilson(anyHits, trials)}
	for ci, c := range pl.Classes {
		r.Classes = append(r.Classes, ClassRisk{Class: c.Class, AccessLoss: Wilson(accessHits[ci], trials), DataLoss: Wilson(dataHits[ci], trials)})
	}
	r.Elapsed = time.Since(start)
	return r
}
