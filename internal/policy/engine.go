// Package policy decides, per request, whether a dataset may be written,
// replicated, read, restored, disclosed or have its key released at a site.
// Decisions come from one cedar policy set (rules.cedar), fed with the
// home's settings (policy.yaml), the baseline and the installed agreements,
// and carry reasons a person can act on. The package is pure: no I/O, no
// context; callers pass the time.
package policy

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cedar-policy/cedar-go"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/class"
)

//go:embed rules.cedar
var rulesCedar []byte

// Rules returns the cedar source of the decision rules.
func Rules() []byte { return slices.Clone(rulesCedar) }

// Action is what a request wants to do.
type Action string

// Actions.
const (
	Write      Action = "write"       // store a new snapshot's objects at a site
	Replicate  Action = "replicate"   // copy existing objects to a site (site add, sync)
	Read       Action = "read"        // read objects from a site
	Restore    Action = "restore"     // restore a dataset from a site
	Disclose   Action = "disclose"    // hand data to a third party (legal process)
	KeyRelease Action = "key-release" // release a dataset key outside home
)

// Actions lists every action.
var Actions = []Action{Write, Replicate, Read, Restore, Disclose, KeyRelease}

// Dataset is the dataset a request is about.
type Dataset struct {
	Name     string `json:"name"`
	Class    string `json:"class"` // "" if unlabelled
	Personal bool   `json:"personal,omitempty"`
	ID       string `json:"id,omitempty"` // the dataset's id, for the log's entry of a denial; no rule reads it
}

// Site is the site a request is about.
type Site struct {
	Name         string  `json:"name"`
	Jurisdiction string  `json:"jurisdiction"`
	DistanceKm   float64 `json:"distance_km"` // from home; < 0 if unknown
	Tier         int     `json:"tier,omitempty"`
	Agreement    string  `json:"agreement,omitempty"` // id of the agreement the site is hosted under
	Home         bool    `json:"home,omitempty"`      // the sending state's own home
}

// Request is one decision to make.
type Request struct {
	Action   Action
	Dataset  Dataset
	Site     Site
	Now      time.Time
	Attested bool // key release: the site presented a valid attestation
	Approved bool // disclosure: the sending state approved it
	// BreakGlass: a break-glass emergency access is open at the site
	// (physical or operational only: no key leaves home while it is).
	BreakGlass bool
}

// Decision is the answer, with reasons a person can act on.
type Decision struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons,omitempty"` // why it was denied, and what to do
	Rules   []string `json:"rules,omitempty"`   // ids of the rules that denied it
	Alerts  []string `json:"alerts,omitempty"`  // problems to raise even when allowed
}

// Engine makes decisions. It is safe for concurrent use.
type Engine struct {
	ps       *cedar.PolicySet
	entities cedar.EntityMap // the action groups
	reasons  map[cedar.PolicyID]string
	settings Settings
	base     *agreement.Baseline
	ags      map[string]*agreement.Agreement
	res      map[string]map[string]agreement.Resolved
}

// New builds an engine from the settings, the baseline and the installed
// agreements (already verified by the caller).
func New(s Settings, base *agreement.Baseline, ags []*agreement.Agreement) (*Engine, error) {
	c := compile()
	if c.err != nil {
		return nil, c.err
	}
	e := &Engine{ps: c.ps, reasons: c.reasons, entities: c.entities, settings: s, base: base,
		ags: map[string]*agreement.Agreement{}, res: map[string]map[string]agreement.Resolved{}}
	for _, a := range ags {
		e.ags[a.ID] = a
		e.res[a.ID] = agreement.Resolve(a, base)
	}
	return e, nil
}

type compiled struct {
	ps       *cedar.PolicySet
	reasons  map[cedar.PolicyID]string
	entities cedar.EntityMap
	err      error
}

// compile parses the rules once per process; the result is only read.
var compile = sync.OnceValue(func() compiled {
	list, err := cedar.NewPolicyListFromBytes("rules.cedar", rulesCedar)
	if err != nil {
		return compiled{err: fmt.Errorf("rules.cedar: %w", err)}
	}
	c := compiled{ps: cedar.NewPolicySet(), reasons: map[cedar.PolicyID]string{}, entities: actionGroups()}
	for _, p := range list {
		an := p.Annotations()
		id := cedar.PolicyID(an["id"])
		if id == "" || !c.ps.Add(id, p) {
			return compiled{err: fmt.Errorf("rules.cedar: policy at %v needs a unique @id", p.Position())}
		}
		c.reasons[id] = string(an["reason"])
	}
	return c
})

// Settings returns the engine's settings.
func (e *Engine) Settings() Settings { return e.settings }

// Decide answers one request.
func (e *Engine) Decide(r Request) Decision {
	var d Decision
	lbl, lerr := class.Parse(r.Dataset.Class)
	labelled := r.Dataset.Class != "" && lerr == nil
	cp := e.settings.For(lbl)
	tags := e.settings.Tags(r.Dataset.Name)
	tjs := make([]cedar.Value, len(tags.Jurisdictions))
	for i, j := range tags.Jurisdictions {
		tjs[i] = cedar.String(j)
	}
	tas := make([]cedar.Value, len(tags.Agreements))
	for i, a := range tags.Agreements {
		tas[i] = cedar.String(a)
	}
	jset := make([]cedar.Value, len(cp.Jurisdictions))
	for i, j := range cp.Jurisdictions {
		jset[i] = cedar.String(j)
	}
	ds := cedar.RecordMap{
		"labelled":          cedar.Boolean(labelled),
		"c":                 cedar.Long(lbl.C),
		"i":                 cedar.Long(lbl.I),
		"a":                 cedar.Long(lbl.A),
		"personal":          cedar.Boolean(r.Dataset.Personal || tags.Personal),
		"tagged_places":     cedar.Boolean(len(tags.Jurisdictions) > 0),
		"places":            cedar.NewSet(tjs...),
		"governing_law":     cedar.String(tags.GoverningLaw),
		"tagged_agreements": cedar.Boolean(len(tags.Agreements) > 0),
		"agreements":        cedar.NewSet(tas...),
		"any_jurisdiction":  cedar.Boolean(cp.Jurisdictions == nil),
		"restore_within":    cedar.Boolean(cp.RestoreWithinResidency),
		"jurisdictions":     cedar.NewSet(jset...),
		"min_tier":          cedar.Long(cp.MinTier),
		"private_hub":       cedar.Boolean(cp.PrivateHub),
		"home_only_keys":    cedar.Boolean(cp.KeyPolicy == "home-only"),
	}
	recoveryKm := e.settings.RecoveryDistanceKm
	ag := cedar.RecordMap{"named": cedar.Boolean(r.Site.Agreement != ""), "present": cedar.False}
	a := e.ags[r.Site.Agreement]
	var st agreement.Status
	if a != nil {
		res := e.res[a.ID]
		st = a.StatusAt(r.Now, e.base)
		maxL := res["data.max-class"].Value.Label()
		aj := res["residency.jurisdictions"].Value.List
		js := make([]cedar.Value, len(aj))
		for i, j := range aj {
			js[i] = cedar.String(j)
		}
		ag = cedar.RecordMap{
			"named": cedar.True, "present": cedar.True,
			"expired": cedar.Boolean(st.Expired), "not_yet": cedar.Boolean(st.NotYet),
			"max_c": cedar.Long(maxL.C), "max_i": cedar.Long(maxL.I), "max_a": cedar.Long(maxL.A),
			"personal_data": cedar.String(res["data.personal-data"].Value.Raw),
			"hub":           cedar.String(res["hub"].Value.Raw),
			"jurisdictions": cedar.NewSet(js...),
			"law":           cedar.String(agreementLaw(a, res)),
		}
		recoveryKm = max(recoveryKm, res["residency.recovery-distance-km"].Value.Int())
		if st.Expired && (r.Action == Write || r.Action == Replicate) {
			d.Alerts = append(d.Alerts, fmt.Sprintf("agreement %s expired on %s", a.ID, st.Expires.Format(time.DateOnly)))
		}
		if st.ReviewOverdue {
			d.Alerts = append(d.Alerts, fmt.Sprintf("agreement %s: review overdue since %s", a.ID, st.ReviewDue.Format(time.DateOnly)))
		}
	}
	dist := int64(-1)
	if r.Site.DistanceKm >= 0 {
		dist = int64(math.Floor(r.Site.DistanceKm))
	}
	site := cedar.RecordMap{
		"home":         cedar.Boolean(r.Site.Home),
		"jurisdiction": cedar.String(r.Site.Jurisdiction),
		"distance_km":  cedar.Long(dist),
		"tier":         cedar.Long(r.Site.Tier),
		"agreement":    cedar.NewRecord(ag),
		"agreement_id": cedar.String(r.Site.Agreement),
	}
	req := cedar.Request{
		Principal: cedar.NewEntityUID("Site", cedar.String(r.Site.Name)),
		Action:    cedar.NewEntityUID("Action", cedar.String(r.Action)),
		Resource:  cedar.NewEntityUID("Dataset", cedar.String(r.Dataset.Name)),
		Context: cedar.NewRecord(cedar.RecordMap{
			"dataset":           cedar.NewRecord(ds),
			"site":              cedar.NewRecord(site),
			"recovery_km":       cedar.Long(recoveryKm),
			"require_agreement": cedar.Boolean(e.settings.RequireAgreement),
			"attested":          cedar.Boolean(r.Attested),
			"approved":          cedar.Boolean(r.Approved),
			"break_glass":       cedar.Boolean(r.BreakGlass),
		}),
	}
	dec, diag := cedar.Authorize(e.ps, e.entities, req)
	d.Allow = dec == cedar.Allow
	for _, de := range diag.Errors {
		d.Reasons = append(d.Reasons, "policy error: "+de.String())
	}
	if d.Allow {
		return d
	}
	rp := e.replacer(r, lbl, cp, a, st, recoveryKm)
	for _, reason := range diag.Reasons {
		d.Rules = append(d.Rules, string(reason.PolicyID))
	}
	slices.Sort(d.Rules)
	for _, id := range d.Rules {
		d.Reasons = append(d.Reasons, rp.Replace(e.reasons[cedar.PolicyID(id)]))
	}
	return d
}

// agreementLaw is the state whose law governs data hosted under a: the
// sending or the host state, as legal.governing-law says.
func agreementLaw(a *agreement.Agreement, res map[string]agreement.Resolved) string {
	p := a.Sending()
	if res["legal.governing-law"].Value.Raw == "host" {
		p = a.Host()
	}
	if p == nil {
		return ""
	}
	return p.State
}

// actionGroups: "store" holds write and replicate; "leave-home" holds
// store, disclose and key-release.
func actionGroups() cedar.EntityMap {
	uid := func(s string) cedar.EntityUID { return cedar.NewEntityUID("Action", cedar.String(s)) }
	m := cedar.EntityMap{}
	add := func(a string, parents ...string) {
		ps := make([]cedar.EntityUID, len(parents))
		for i, p := range parents {
			ps[i] = uid(p)
		}
		m[uid(a)] = cedar.Entity{UID: uid(a), Parents: cedar.NewEntityUIDSet(ps...)}
	}
	add("leave-home")
	add("store", "leave-home")
	add(string(Write), "store")
	add(string(Replicate), "store")
	add(string(Disclose), "leave-home")
	add(string(KeyRelease), "leave-home")
	add(string(Read))
	add(string(Restore))
	return m
}

func (e *Engine) replacer(r Request, lbl class.Label, cp ClassPolicy, a *agreement.Agreement, st agreement.Status, recoveryKm int) *strings.Replacer {
	allowed := "nowhere"
	if len(cp.Jurisdictions) > 0 {
		allowed = strings.Join(cp.Jurisdictions, ", ")
	}
	cls := r.Dataset.Class
	if cls != "" {
		cls = lbl.String()
	}
	kv := []string{
		"{dataset}", r.Dataset.Name, "{class}", cls, "{site}", r.Site.Name, "{jurisdiction}", r.Site.Jurisdiction,
		"{allowed}", allowed, "{agreement}", r.Site.Agreement, "{distance}", strconv.Itoa(int(r.Site.DistanceKm)),
		"{places}", strings.Join(e.settings.Tags(r.Dataset.Name).Jurisdictions, ", "),
		"{inventory_agreements}", strings.Join(e.settings.Tags(r.Dataset.Name).Agreements, ", "), "{law}", e.settings.Tags(r.Dataset.Name).GoverningLaw,
		"{recovery_km}", strconv.Itoa(recoveryKm), "{tier}", strconv.Itoa(r.Site.Tier), "{min_tier}", strconv.Itoa(cp.MinTier),
	}
	if a != nil {
		res := e.res[a.ID]
		kv = append(kv, "{expires}", st.Expires.Format(time.DateOnly), "{effective}", res["term.effective"].Value.Raw,
			"{max_class}", res["data.max-class"].Value.Raw, "{hub}", res["hub"].Value.Raw,
			"{agreement_jurisdictions}", strings.Join(res["residency.jurisdictions"].Value.List, ", "),
			"{agreement_law}", agreementLaw(a, res))
	}
	return strings.NewReplacer(kv...)
}
