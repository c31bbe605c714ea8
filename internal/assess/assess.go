// Package assess scores an agreement along the five trust dimensions, each
// line checked against the agreement's terms or against live evidence from
// the running system: what the sites hold, where each dataset is placed,
// and (when fed from the transparency log) access disclosures and incidents.
// Evaluation is pure; scan.go gathers site evidence.
package assess

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/policy"
)

// Status of a check.
type Status string

// Statuses.
const (
	Pass       Status = "pass"
	Fail       Status = "fail"
	Warn       Status = "warn"
	NoEvidence Status = "no-evidence"
)

// Check is one line of the scorecard.
type Check struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Status   Status `json:"status"`
	Basis    string `json:"basis"` // "terms" or "live"
	Evidence string `json:"evidence"`
}

// Dimension is one trust dimension with its checks.
type Dimension struct {
	Name   string  `json:"name"`
	Score  string  `json:"score"` // "3/4"
	Checks []Check `json:"checks"`
}

// Scorecard is the assessment of one agreement.
type Scorecard struct {
	Agreement  string      `json:"agreement"`
	Title      string      `json:"title"`
	Sending    string      `json:"sending"`
	Host       string      `json:"host"`
	Digest     string      `json:"digest"`
	At         time.Time   `json:"at"`
	Sites      []string    `json:"sites"`
	Passed     int         `json:"passed"`
	Total      int         `json:"total"`
	Dimensions []Dimension `json:"dimensions"`
}

// Disclosure is one access by host or operator personnel, and when it was
// disclosed to the sending state (zero if not yet).
type Disclosure struct {
	Site      string
	Accessed  time.Time
	Disclosed time.Time
}

// Incident is one incident and when the sending state was notified.
type Incident struct {
	Site     string
	Occurred time.Time
	Notified time.Time
}

// Evidence supplies operational records, typically from the transparency
// log. ok is false when there is no such evidence yet.
type Evidence interface {
	Disclosures() (ds []Disclosure, ok bool)
	Incidents() (is []Incident, ok bool)
}

// Holding says which sites hold a dataset.
type Holding struct {
	Dataset policy.Dataset
	Sites   []string
}

// Input is everything an assessment looks at.
type Input struct {
	Agreement *agreement.Agreement
	Baseline  *agreement.Baseline
	Engine    *policy.Engine
	Now       time.Time
	Sites     []policy.Site       // every configured site
	Holdings  []Holding           // the placement map
	Scan      map[string][]string // site -> objects that are not ciphertext or public metadata; absent: not scanned
	Evidence  Evidence            // nil: no operational evidence yet
}

// Assess builds the scorecard.
func Assess(in Input) *Scorecard {
	a, base := in.Agreement, in.Baseline
	res := agreement.Resolve(a, base)
	sc := &Scorecard{Agreement: a.ID, Title: a.Title, Sending: a.Sending().State, Host: a.Host().State, Digest: agreement.Digest(a), At: in.Now}
	var mine []policy.Site
	for _, s := range in.Sites {
		if s.Agreement == a.ID {
			mine = append(mine, s)
			sc.Sites = append(sc.Sites, s.Name)
		}
	}
	byName := map[string]policy.Site{}
	for _, s := range in.Sites {
		byName[s.Name] = s
	}
	verr := agreement.Verify(a)
	loose, berr := agreement.CheckBaseline(a, base)
	st := a.StatusAt(in.Now, base)
	val := func(p string) agreement.Value { return res[p].Value }
	term := func(path, title string, ok bool, ev string) Check {
		c := Check{ID: path, Title: title, Status: Fail, Basis: "terms", Evidence: ev}
		if ok {
			c.Status = Pass
		}
		return c
	}
	atLeast := func(path string) bool { // the effective value is as strict as the baseline
		r := res[path]
		return r.Source != agreement.FromOverride
	}

	// Political commitment.
	pol := []Check{
		term("signatures", "signed by both parties", verr == nil, errText(verr, "both Ed25519 signatures verify")),
		term("political.instrument", "binding instrument", atLeast("political.instrument"), "instrument: "+val("political.instrument").Raw),
		term("term", "in force", st.Active, fmt.Sprintf("effective %s, expires %s", val("term.effective").Raw, val("term.expires").Raw)),
		term("term.review", "inventory review on schedule", !st.ReviewOverdue, "review due "+st.ReviewDue.Format(time.DateOnly)),
	}
	// Legal basis.
	imm := []string{}
	for _, k := range []string{"premises", "data", "communications"} {
		if !val("legal.immunities." + k).Bool() {
			imm = append(imm, k)
		}
	}
	leg := []Check{
		term("legal.immunities", "premises, data and communications inviolable", len(imm) == 0, missing("not inviolable: ", imm, "all three granted")),
		term("legal.governing-law", "sending state's law governs hosted data", val("legal.governing-law").Raw == "sending", "governing law: "+val("legal.governing-law").Raw),
		term("legal.emergency-access", "host emergency access gives no plaintext", atLeast("legal.emergency-access"), "emergency access: "+val("legal.emergency-access").Raw),
	}
	// Data management.
	dat := []Check{term("baseline", "only tightens the baseline", berr == nil, baselineText(berr, loose))}
	dat = append(dat, in.labelled(mine), in.residency(mine, byName), in.critical(byName), in.distance(mine, res))
	// Technical safeguards.
	tec := []Check{
		term("technical.keys-held-by", "keys held only by the sending state", val("technical.keys-held-by").Raw == "sending", "keys held by: "+val("technical.keys-held-by").Raw),
		in.keyScan(mine),
		term("technical.confidential-computing-from", "confidential computing required for sensitive classes", atLeast("technical.confidential-computing-from"), "required from: "+val("technical.confidential-computing-from").Raw),
		term("technical.encryption-in-transit", "encryption in transit", val("technical.encryption-in-transit").Bool(), "encryption in transit: "+val("technical.encryption-in-transit").Raw),
	}
	// Operational rules.
	hours := val("operations.disclosure-delay-hours").Int()
	ops := []Check{
		in.disclosures(hours, atLeast("operations.disclosure-delay-hours")),
		in.incidents(val("operations.incident-notification-hours").Int()),
		term("operations.support-access", "support access needs prior approval", atLeast("operations.support-access"), "support access: "+val("operations.support-access").Raw),
		term("operations.audit-rights", "audit rights", val("operations.audit-rights").Bool(), "audit rights: "+val("operations.audit-rights").Raw),
		term("exit", "exit: export and deletion certificate", atLeast("exit.export-days") && val("exit.deletion-certificate").Bool(),
			fmt.Sprintf("export within %d days; deletion certificate: %s", val("exit.export-days").Int(), val("exit.deletion-certificate").Raw)),
	}
	for i, cs := range [][]Check{pol, leg, dat, tec, ops} {
		n := 0
		for _, c := range cs {
			if c.Status == Pass {
				n++
			}
		}
		sc.Passed += n
		sc.Total += len(cs)
		sc.Dimensions = append(sc.Dimensions, Dimension{Name: agreement.Dimensions[i], Score: fmt.Sprintf("%d/%d", n, len(cs)), Checks: cs})
	}
	return sc
}

func errText(err error, ok string) string {
	if err == nil {
		return ok
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

func missing(prefix string, l []string, ok string) string {
	if len(l) == 0 {
		return ok
	}
	return prefix + strings.Join(l, ", ")
}

func baselineText(err error, loose []agreement.Loosening) string {
	if err != nil {
		var es agreement.Errors
		if errors.As(err, &es) {
			var terms []string
			for _, e := range es {
				terms = append(terms, e.Term)
			}
			return fmt.Sprintf("%d terms loosen the baseline without a signed override: %s", len(es), strings.Join(terms, ", "))
		}
		return err.Error()
	}
	if len(loose) > 0 {
		var t []string
		for _, l := range loose {
			t = append(t, l.Term)
		}
		return "tightens the baseline except under signed overrides: " + strings.Join(t, ", ")
	}
	return "every stated term is at least as strict as the baseline"
}

func live(id, title string) Check { return Check{ID: id, Title: title, Basis: "live"} }

func (in Input) held(site string) []policy.Dataset {
	var out []policy.Dataset
	for _, h := range in.Holdings {
		if slices.Contains(h.Sites, site) {
			out = append(out, h.Dataset)
		}
	}
	return out
}

func noSites(c Check) Check {
	c.Status, c.Evidence = NoEvidence, "no site is hosted under this agreement"
	return c
}

func (in Input) labelled(mine []policy.Site) Check {
	c := live("data.labels", "every hosted dataset is classified")
	if len(mine) == 0 {
		return noSites(c)
	}
	var bad []string
	n := 0
	for _, s := range mine {
		for _, d := range in.held(s.Name) {
			n++
			if d.Class == "" {
				bad = append(bad, d.Name+"@"+s.Name)
			}
		}
	}
	c.Status, c.Evidence = Pass, fmt.Sprintf("%d dataset copies at %d sites, all labelled", n, len(mine))
	if len(bad) > 0 {
		c.Status, c.Evidence = Fail, "unlabelled: "+strings.Join(bad, ", ")
	}
	return c
}

func (in Input) residency(mine []policy.Site, byName map[string]policy.Site) Check {
	c := live("data.residency", "hosted data within residency rules")
	if len(mine) == 0 {
		return noSites(c)
	}
	var bad []string
	n := 0
	for _, s := range mine {
		for _, d := range in.held(s.Name) {
			n++
			dec := in.Engine.Decide(policy.Request{Action: policy.Replicate, Dataset: d, Site: s, Now: in.Now})
			if !dec.Allow {
				bad = append(bad, fmt.Sprintf("%s@%s (%s)", d.Name, s.Name, strings.Join(dec.Rules, ",")))
			}
		}
	}
	c.Status, c.Evidence = Pass, fmt.Sprintf("%d dataset copies re-checked against the policy engine", n)
	if len(bad) > 0 {
		c.Status, c.Evidence = Fail, "not allowed where held: "+strings.Join(bad, "; ")
	}
	return c
}

func (in Input) critical(byName map[string]policy.Site) Check {
	c := live("data.critical-jurisdictions", "critical data in enough jurisdictions")
	var bad []string
	n := 0
	for _, h := range in.Holdings {
		var sites []policy.Site
		for _, s := range h.Sites {
			sites = append(sites, byName[s])
		}
		if probs := in.Engine.CheckCopies(h.Dataset, sites); len(probs) > 0 && h.Dataset.Class != "" {
			bad = append(bad, h.Dataset.Name+": "+strings.Join(probs, "; "))
		}
		n++
	}
	if n == 0 {
		c.Status, c.Evidence = NoEvidence, "no dataset in the placement map"
		return c
	}
	c.Status, c.Evidence = Pass, fmt.Sprintf("%d datasets meet their class's copies and jurisdictions", n)
	if len(bad) > 0 {
		sort.Strings(bad)
		c.Status, c.Evidence = Fail, strings.Join(bad, " | ")
	}
	return c
}

func (in Input) distance(mine []policy.Site, res map[string]agreement.Resolved) Check {
	km := max(in.Engine.Settings().RecoveryDistanceKm, res["residency.recovery-distance-km"].Value.Int())
	c := live("residency.recovery-distance-km", fmt.Sprintf("recovery sites at least %d km from home", km))
	if len(mine) == 0 {
		return noSites(c)
	}
	var bad, unknown []string
	for _, s := range mine {
		switch {
		case s.DistanceKm < 0:
			unknown = append(unknown, s.Name)
		case s.DistanceKm < float64(km):
			bad = append(bad, fmt.Sprintf("%s (%.0f km)", s.Name, s.DistanceKm))
		}
	}
	switch {
	case len(bad) > 0:
		c.Status, c.Evidence = Fail, "too close: "+strings.Join(bad, ", ")
	case len(unknown) > 0:
		c.Status, c.Evidence = NoEvidence, "location unknown (set home-location in policy.yaml and --location on the site): "+strings.Join(unknown, ", ")
	default:
		c.Status, c.Evidence = Pass, fmt.Sprintf("%d sites, all far enough", len(mine))
	}
	return c
}

func (in Input) keyScan(mine []policy.Site) Check {
	c := live("technical.no-key-material", "no key material at the host")
	if len(mine) == 0 {
		return noSites(c)
	}
	var bad, unscanned []string
	for _, s := range mine {
		f, ok := in.Scan[s.Name]
		if !ok {
			unscanned = append(unscanned, s.Name)
		}
		for _, x := range f {
			bad = append(bad, s.Name+": "+x)
		}
	}
	switch {
	case len(bad) > 0:
		c.Status, c.Evidence = Fail, strings.Join(bad, "; ")
	case len(unscanned) > 0:
		c.Status, c.Evidence = NoEvidence, "not scanned (unreachable): "+strings.Join(unscanned, ", ")
	default:
		c.Status, c.Evidence = Pass, "every object at "+strings.Join(siteNames(mine), ", ")+" is ciphertext, a wrapped key or signed public metadata"
	}
	return c
}

func siteNames(ss []policy.Site) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func (in Input) disclosures(hours int, termOK bool) Check {
	c := live("operations.disclosure-delay-hours", fmt.Sprintf("access disclosed within %d h", hours))
	var ds []Disclosure
	ok := false
	if in.Evidence != nil {
		ds, ok = in.Evidence.Disclosures()
	}
	if !ok {
		c.Status, c.Evidence = NoEvidence, "no evidence yet: no access-disclosure records in the log"
		if !termOK {
			c.Status, c.Basis, c.Evidence = Fail, "terms", fmt.Sprintf("the agreement allows %d h, looser than the baseline", hours)
		}
		return c
	}
	late := 0
	for _, d := range ds {
		if d.Disclosed.IsZero() && in.Now.Sub(d.Accessed) > time.Duration(hours)*time.Hour || !d.Disclosed.IsZero() && d.Disclosed.Sub(d.Accessed) > time.Duration(hours)*time.Hour {
			late++
		}
	}
	c.Status, c.Evidence = Pass, fmt.Sprintf("%d accesses, all disclosed in time", len(ds))
	if late > 0 || !termOK {
		c.Status, c.Evidence = Fail, fmt.Sprintf("%d of %d accesses disclosed late or not at all", late, len(ds))
	}
	return c
}

func (in Input) incidents(hours int) Check {
	c := live("operations.incident-notification-hours", fmt.Sprintf("incidents notified within %d h", hours))
	var is []Incident
	ok := false
	if in.Evidence != nil {
		is, ok = in.Evidence.Incidents()
	}
	if !ok {
		c.Status, c.Evidence = NoEvidence, "no evidence yet: no incident records in the log"
		return c
	}
	late := 0
	for _, x := range is {
		if x.Notified.IsZero() || x.Notified.Sub(x.Occurred) > time.Duration(hours)*time.Hour {
			late++
		}
	}
	c.Status, c.Evidence = Pass, fmt.Sprintf("%d incidents, all notified in time", len(is))
	if late > 0 {
		c.Status, c.Evidence = Fail, fmt.Sprintf("%d of %d incidents notified late or not at all", late, len(is))
	}
	return c
}
