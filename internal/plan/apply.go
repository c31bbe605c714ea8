package plan

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
)

// System is the part of a running system a plan governs.
type System struct {
	HomeState    string
	HomeLocation string
	RecoveryKm   int
	Sites        []home.SiteConfig
	Classes      []policy.ClassRule
}

// Applier reads and changes a running system. HomeApplier implements it
// over a home folder; a service layer can implement it too.
type Applier interface {
	System(ctx context.Context) (System, error)
	AddSite(ctx context.Context, sc home.SiteConfig) error
	// UpdateSite changes a site's facts (operator, agreement, location,
	// tier), never its URL or jurisdiction.
	UpdateSite(ctx context.Context, sc home.SiteConfig) error
	SetClassRule(ctx context.Context, r policy.ClassRule) error
	SetHome(ctx context.Context, state, location string, recoveryKm int) error
}

// Desired is the system a placement asks for.
type Desired struct {
	System
	Missing []string      // planned sites the scenario gives no url for
	Placed  []PlacedClass // what each class gets, to check the merged policy against
}

// PlacedClass is a class's placement as the policy sees it.
type PlacedClass struct {
	Class, Label  string
	Jurisdictions []string
	Copies        int    // full copies (1 for an erasure-coded class)
	Erasure       string // "k+m", or "" for replicas
}

func erasureOf(c ClassPlacement) string {
	if c.Scheme == "replica" {
		return ""
	}
	return fmt.Sprintf("%d+%d", c.K, c.M)
}

// DesiredSystem turns a placement into sites and class rules. Sites holding
// only erasure-coded parts become members of one group site per code and
// member set; every other planned site holds full copies.
func DesiredSystem(s *Scenario, pl *Placement) Desired {
	d := Desired{System: System{HomeState: s.State, HomeLocation: s.Home.Location}}
	for _, t := range s.Thresholds {
		if t.Metric == "distance-km" && t.Min != nil && (t.Mandatory == nil || *t.Mandatory) {
			d.RecoveryKm = max(d.RecoveryKm, int(*t.Min))
		}
	}
	full := map[string]bool{}
	part := map[string]bool{}
	groups := map[string][]string{} // group name -> members
	groupURL := map[string]string{}
	for _, c := range pl.Classes {
		if c.Scheme == "replica" {
			for _, sn := range c.Sites {
				full[sn] = true
			}
			continue
		}
		for _, sn := range c.Sites {
			part[sn] = true
		}
		members := slices.Clone(c.Sites)
		sort.Strings(members)
		h := fnv.New32a()
		h.Write([]byte(strings.Join(members, ",")))
		name := fmt.Sprintf("rs-%d-%d-%08x", c.K, c.M, h.Sum32())
		groups[name] = members
		groupURL[name] = fmt.Sprintf("erasure:%d+%d?members=%s", c.K, c.M, strings.Join(members, ","))
	}
	for _, st := range s.Sites {
		if !full[st.Name] && !part[st.Name] {
			continue
		}
		if st.URL == "" {
			d.Missing = append(d.Missing, st.Name)
			continue
		}
		sc := home.SiteConfig{Name: st.Name, URL: st.URL, Jurisdiction: st.Jurisdiction, Operator: st.Operator,
			Agreement: st.Agreement, Location: st.Location, Tier: st.Tier}
		if part[st.Name] && !full[st.Name] {
			sc.Member = true
		}
		d.Sites = append(d.Sites, sc)
	}
	for _, name := range sortedKeys(groups) {
		d.Sites = append(d.Sites, home.SiteConfig{Name: name, URL: groupURL[name], Jurisdiction: "MULTI"})
	}
	// One rule per label. The policy merges every rule whose label is at
	// most as strict as the data's (jurisdictions intersected, minimums the
	// largest, the erasure code of the last), so the rule for label L must
	// be met by every planned class at least as strict as L: its
	// jurisdictions are their union and its minimums their smallest.
	type placed struct {
		label  class.Label
		c      ClassPlacement
		cl     *Class
		copies int
	}
	var ps []placed
	for _, c := range pl.Classes {
		sc := s.class(c.Class)
		l, _ := class.Parse(sc.Label)
		cp := 1
		if c.Scheme == "replica" {
			cp = c.K + c.M
		}
		ps = append(ps, placed{label: l, c: c, cl: sc, copies: cp})
		d.Placed = append(d.Placed, PlacedClass{Class: c.Class, Label: l.String(), Jurisdictions: c.Jurisdictions, Copies: cp, Erasure: erasureOf(c)})
	}
	seen := map[string]bool{}
	for _, x := range ps {
		key := x.label.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		r := policy.ClassRule{Class: key, MinCopies: math.MaxInt, MinJurisdictions: math.MaxInt, MinTier: math.MaxInt, RequireCopies: true}
		codes := map[string]bool{}
		for _, y := range ps {
			if !y.label.AtLeast(x.label) {
				continue
			}
			for _, j := range y.c.Jurisdictions {
				if !contains(r.Jurisdictions, j) {
					r.Jurisdictions = append(r.Jurisdictions, j)
				}
			}
			r.MinCopies = min(r.MinCopies, y.copies)
			r.MinJurisdictions = min(r.MinJurisdictions, y.cl.MinJurisdictions)
			r.MinTier = min(r.MinTier, y.cl.MinTier)
			r.RequireCopies = r.RequireCopies && y.cl.IsCritical()
			codes[erasureOf(y.c)] = true
		}
		if len(codes) == 1 {
			for code := range codes {
				r.Erasure = code
			}
		}
		sort.Strings(r.Jurisdictions)
		d.Classes = append(d.Classes, r)
	}
	return d
}

// Difference is one way the running system departs from the plan.
type Difference struct {
	Kind    string `json:"kind"` // home, site-missing, site-facts, site-conflict, site-extra, class-missing, class-differs
	Subject string `json:"subject"`
	Want    string `json:"want,omitempty"`
	Have    string `json:"have,omitempty"`
	Fixable bool   `json:"fixable"` // plan apply can fix it
	act     func(context.Context, Applier) error
}

func (d Difference) String() string {
	s := d.Kind + " " + d.Subject
	if d.Want != "" || d.Have != "" {
		s += fmt.Sprintf(": want %s, have %s", orNone(d.Want), orNone(d.Have))
	}
	if !d.Fixable {
		s += " (plan apply cannot fix this)"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func siteFacts(s home.SiteConfig) string {
	return fmt.Sprintf("operator=%q agreement=%q location=%q tier=%d", s.Operator, s.Agreement, s.Location, s.Tier)
}

func ruleText(r policy.ClassRule) string {
	return fmt.Sprintf("jurisdictions=%v min-copies=%d min-jurisdictions=%d erasure=%q min-tier=%d require-copies=%v",
		r.Jurisdictions, r.MinCopies, r.MinJurisdictions, r.Erasure, r.MinTier, r.RequireCopies)
}

// Compare lists every difference between the desired and the current system.
func Compare(want Desired, have System) []Difference {
	var out []Difference
	for _, m := range want.Missing {
		out = append(out, Difference{Kind: "site-missing", Subject: m, Want: "a url in the scenario", Have: "none"})
	}
	if want.HomeState != have.HomeState || want.HomeLocation != have.HomeLocation || want.RecoveryKm > have.RecoveryKm {
		w := want
		out = append(out, Difference{Kind: "home", Subject: "home",
			Want:    fmt.Sprintf("state=%s location=%s recovery-distance-km>=%d", want.HomeState, want.HomeLocation, want.RecoveryKm),
			Have:    fmt.Sprintf("state=%s location=%s recovery-distance-km=%d", have.HomeState, have.HomeLocation, have.RecoveryKm),
			Fixable: true,
			act: func(ctx context.Context, a Applier) error {
				return a.SetHome(ctx, w.HomeState, w.HomeLocation, max(w.RecoveryKm, have.RecoveryKm))
			}})
	}
	planned := map[string]bool{}
	for _, ws := range want.Sites {
		ws := ws
		planned[ws.Name] = true
		var cur *home.SiteConfig
		for i := range have.Sites {
			if have.Sites[i].Name == ws.Name {
				cur = &have.Sites[i]
			}
		}
		switch {
		case cur == nil:
			out = append(out, Difference{Kind: "site-missing", Subject: ws.Name, Want: ws.URL + " (" + ws.Jurisdiction + ")", Fixable: true,
				act: func(ctx context.Context, a Applier) error { return a.AddSite(ctx, ws) }})
		case cur.URL != ws.URL || cur.Jurisdiction != ws.Jurisdiction || cur.Member != ws.Member:
			out = append(out, Difference{Kind: "site-conflict", Subject: ws.Name,
				Want: fmt.Sprintf("%s (%s, member=%v)", ws.URL, ws.Jurisdiction, ws.Member),
				Have: fmt.Sprintf("%s (%s, member=%v)", cur.URL, cur.Jurisdiction, cur.Member)})
		case siteFacts(*cur) != siteFacts(ws):
			out = append(out, Difference{Kind: "site-facts", Subject: ws.Name, Want: siteFacts(ws), Have: siteFacts(*cur), Fixable: true,
				act: func(ctx context.Context, a Applier) error { return a.UpdateSite(ctx, ws) }})
		}
	}
	for _, hs := range have.Sites {
		if !planned[hs.Name] {
			out = append(out, Difference{Kind: "site-extra", Subject: hs.Name, Have: hs.URL + " (" + hs.Jurisdiction + ")"})
		}
	}
	for _, wr := range want.Classes {
		wr := wr
		var cur *policy.ClassRule
		for i := range have.Classes {
			if have.Classes[i].Class == wr.Class {
				cur = &have.Classes[i]
			}
		}
		switch {
		case cur == nil:
			out = append(out, Difference{Kind: "class-missing", Subject: wr.Class, Want: ruleText(wr), Fixable: true,
				act: func(ctx context.Context, a Applier) error { return a.SetClassRule(ctx, wr) }})
		case ruleText(*cur) != ruleText(wr):
			out = append(out, Difference{Kind: "class-differs", Subject: wr.Class, Want: ruleText(wr), Have: ruleText(*cur), Fixable: true,
				act: func(ctx context.Context, a Applier) error { return a.SetClassRule(ctx, wr) }})
		}
	}
	// The merged policy must let every class have its placement: another
	// rule in the settings (one the plan does not write) may contradict it
	// (as it will be once apply has written the plan's rules)
	{
		merged := slices.Clone(have.Classes)
		for _, wr := range want.Classes {
			i := slices.IndexFunc(merged, func(r policy.ClassRule) bool { return r.Class == wr.Class })
			if i < 0 {
				merged = append(merged, wr)
			} else {
				merged[i] = wr
			}
		}
		set := policy.Settings{Classes: merged}
		for _, pc := range want.Placed {
			l, _ := class.Parse(pc.Label)
			eff := set.For(l)
			var why []string
			if eff.Jurisdictions != nil {
				for _, j := range pc.Jurisdictions {
					if !contains(eff.Jurisdictions, j) {
						why = append(why, "jurisdiction "+j+" not allowed")
					}
				}
			}
			if eff.MinCopies > pc.Copies {
				why = append(why, fmt.Sprintf("min-copies %d, the plan keeps %d", eff.MinCopies, pc.Copies))
			}
			if eff.MinJurisdictions > len(pc.Jurisdictions) {
				why = append(why, fmt.Sprintf("min-jurisdictions %d, the plan uses %d", eff.MinJurisdictions, len(pc.Jurisdictions)))
			}
			if eff.Erasure != "" && eff.Erasure != pc.Erasure {
				why = append(why, fmt.Sprintf("erasure %q, the plan uses %q", eff.Erasure, pc.Erasure))
			}
			if len(why) > 0 {
				out = append(out, Difference{Kind: "class-conflict", Subject: pc.Class + " (" + pc.Label + ")", Want: "the plan's placement", Have: strings.Join(why, "; ")})
			}
		}
	}
	return out
}

// Apply fixes every fixable difference, in order (home, then sites, then
// class rules, so a rule never refers to a site not yet added), and returns
// what it did. Running it again finds nothing to do.
func Apply(ctx context.Context, a Applier, diffs []Difference) ([]Difference, error) {
	rank := func(d Difference) int {
		switch {
		case d.Kind == "home":
			return 0
		case strings.HasPrefix(d.Kind, "site") && !strings.HasPrefix(d.Subject, "rs-"):
			return 1
		case strings.HasPrefix(d.Kind, "site"):
			return 2 // erasure groups after their members
		}
		return 3
	}
	todo := slices.Clone(diffs)
	sort.SliceStable(todo, func(i, j int) bool { return rank(todo[i]) < rank(todo[j]) })
	var done []Difference
	for _, d := range todo {
		if !d.Fixable {
			continue
		}
		if err := d.act(ctx, a); err != nil {
			return done, fmt.Errorf("%s %s: %w", d.Kind, d.Subject, err)
		}
		done = append(done, d)
	}
	return done, nil
}

// MissingAgreements lists planned sites whose agreement is not installed:
// the policy gate refuses to copy data to them until it is.
func MissingAgreements(want Desired, installed []string) []Difference {
	var out []Difference
	for _, sc := range want.Sites {
		if sc.Agreement != "" && !contains(installed, sc.Agreement) {
			out = append(out, Difference{Kind: "agreement-missing", Subject: sc.Name, Want: "agreement " + sc.Agreement + " installed ('embassy agreement add FILE')"})
		}
	}
	return out
}
