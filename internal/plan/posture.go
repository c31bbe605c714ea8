package plan

import (
	"fmt"
	"math"
	"strings"
)

// BlockPosture is one building block on the sovereignty spectrum.
type BlockPosture struct {
	Block        string       `json:"block"` // compute, connectivity, storage
	Mode         string       `json:"mode"`
	Position     float64      `json:"position"` // 0 domestic .. 1 partnership
	Derived      bool         `json:"derived"`  // position computed from the plan, not stated
	Partners     []Partner    `json:"partners,omitempty"`
	Dependencies []Dependency `json:"dependencies,omitempty"`
	SwitchOff    []Dependency `json:"switch_off_risks,omitempty"`
	Unhedged     []string     `json:"no_fallback,omitempty"` // dependencies without a fallback
}

// PostureMap places each building block on the spectrum and lists the
// dependencies it creates, which have fallbacks, and the switch-off risks.
func PostureMap(s *Scenario, pl *Placement) []BlockPosture {
	abroadTB := 0.0
	if pl != nil {
		for _, c := range pl.Classes {
			abroadTB += c.StorageTB
		}
	}
	var out []BlockPosture
	for _, b := range []struct {
		name string
		b    Block
	}{{"compute", s.Posture.Compute}, {"connectivity", s.Posture.Connectivity}, {"storage", s.Posture.Storage}} {
		bp := BlockPosture{Block: b.name, Mode: b.b.Mode, Partners: b.b.Partners, Dependencies: b.b.Dependencies}
		switch {
		case b.b.Position != nil:
			bp.Position = *b.b.Position
		case b.name == "storage" && pl != nil && abroadTB+s.Home.Domestic.StorageTB > 0:
			bp.Position, bp.Derived = abroadTB/(abroadTB+s.Home.Domestic.StorageTB), true
		case b.name == "compute" && s.Needs.ComputeMW > 0:
			dom := math.Min(s.Home.Domestic.ComputeMW, s.Needs.ComputeMW)
			bp.Position, bp.Derived = 1-dom/s.Needs.ComputeMW, true
		case b.b.Mode == "domestic":
			bp.Position = 0.15
		case b.b.Mode == "partnership":
			bp.Position = 0.85
		default:
			bp.Position = 0.5
		}
		bp.Position = math.Round(bp.Position*1000) / 1000
		if bp.Mode == "" {
			switch {
			case bp.Position <= 0.33:
				bp.Mode = "domestic"
			case bp.Position >= 0.66:
				bp.Mode = "partnership"
			default:
				bp.Mode = "mix"
			}
		}
		for _, d := range b.b.Dependencies {
			if d.SwitchOff {
				bp.SwitchOff = append(bp.SwitchOff, d)
			}
			if d.Fallback == "" {
				bp.Unhedged = append(bp.Unhedged, d.Name)
			}
		}
		out = append(out, bp)
	}
	return out
}

// Findings are plain-language warnings about the scenario as a whole.
func Findings(s *Scenario, scores []SiteScore, posture []BlockPosture) []string {
	var f []string
	if len(s.Home.Paths) == 1 {
		f = append(f, fmt.Sprintf("home has a single path (%s): if it is cut, no plan keeps the sites reachable from home", s.Home.Paths[0]))
	}
	for _, bp := range posture {
		for _, d := range bp.SwitchOff {
			if d.Fallback == "" {
				f = append(f, fmt.Sprintf("%s: %s (%s) can be switched off by %s and has no fallback", bp.Block, d.Name, d.Kind, orUnknown(d.State, d.Provider)))
			}
		}
	}
	approved := 0
	for _, sc := range scores {
		if sc.Approved {
			approved++
		}
	}
	if approved < len(scores) {
		f = append(f, fmt.Sprintf("%d of %d candidate sites miss a mandatory prerequisite and cannot be approved", len(scores)-approved, len(scores)))
	}
	if gap := s.Needs.ComputeMW - s.Home.Domestic.ComputeMW; gap > 0 {
		abroad, unknown := 0.0, 0
		for i, st := range s.Sites {
			if !scores[i].Approved {
				continue
			}
			if st.Energy.AvailableMW != nil {
				abroad += *st.Energy.AvailableMW
			} else {
				unknown++
			}
		}
		msg := fmt.Sprintf("compute: %s MW needed beyond the %s MW at home; approved sites offer %s MW", fmtNum(gap), fmtNum(s.Home.Domestic.ComputeMW), fmtNum(abroad))
		if unknown > 0 {
			msg += fmt.Sprintf(" (%d approved site(s) do not say)", unknown)
		}
		if abroad < gap {
			msg += ": not enough"
		}
		f = append(f, msg)
	}
	if s.Needs.Accelerators > s.Home.Domestic.Accelerators {
		f = append(f, fmt.Sprintf("compute: %d accelerators needed, %d at home: %d must come from partners", s.Needs.Accelerators, s.Home.Domestic.Accelerators, s.Needs.Accelerators-s.Home.Domestic.Accelerators))
	}
	return f
}

func orUnknown(a, b string) string {
	switch {
	case a != "" && b != "":
		return b + " (" + a + ")"
	case a != "":
		return a
	case b != "":
		return b
	}
	return "a third party"
}

// SinglePoints lists the correlated events that alone cut a class off:
// they strike more members than the class's coding can lose.
func SinglePoints(s *Scenario, pl *Placement) []string {
	var f []string
	for _, e := range s.Events {
		var hit []string
		for _, c := range pl.Classes {
			n := 0
			for _, sn := range c.Sites {
				if st := s.site(sn); st != nil && eventHitsSite(s, &e, st) {
					n++
				}
			}
			if n > c.M {
				hit = append(hit, c.Class)
			}
		}
		if len(hit) > 0 {
			f = append(f, fmt.Sprintf("event %q (%s, p=%s) alone cuts off %s in this plan: it strikes more members than the coding can lose", e.Name, e.Kind, fmtNum(e.Probability), strings.Join(hit, ", ")))
		}
	}
	return f
}
