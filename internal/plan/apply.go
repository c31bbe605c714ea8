package plan

import (
	"context"
	"fmt"
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
	Missing []string // planned sites the scenario gives no url for
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
		name := fmt.Sprintf("rs-%d-%d-%s", c.K, c.M, members[0])
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
	// one rule per label: the strictest of the classes that share it
	rules := map[string]*policy.ClassRule{}
	var order []string
	for _, c := range pl.Classes {
		sc := s.class(c.Class)
		l, _ := class.Parse(sc.Label)
		key := l.String()
		r := rules[key]
		if r == nil {
			r = &policy.ClassRule{Class: key}
			rules[key] = r
			order = append(order, key)
		}
		for _, j := range c.Jurisdictions {
			if !contains(r.Jurisdictions, j) {
				r.Jurisdictions = append(r.Jurisdictions, j)
			}
		}
		sort.Strings(r.Jurisdictions)
		r.MinJurisdictions = max(r.MinJurisdictions, sc.MinJurisdictions)
		if c.Scheme == "replica" {
			r.MinCopies = max(r.MinCopies, c.K+c.M)
		} else if r.Erasure == "" {
			r.Erasure = fmt.Sprintf("%d+%d", c.K, c.M)
		}
		r.MinTier = max(r.MinTier, sc.MinTier)
		r.RequireCopies = r.RequireCopies || sc.IsCritical()
	}
	for _, k := range order {
		d.Classes = append(d.Classes, *rules[k])
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
