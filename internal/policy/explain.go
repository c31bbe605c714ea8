package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/class"
)

// SiteDecision is the decision for one candidate site.
type SiteDecision struct {
	Site     Site     `json:"site"`
	Decision Decision `json:"decision"`
}

// Placement answers "which sites may hold this dataset?".
type Placement struct {
	Dataset  Dataset        `json:"dataset"`
	Class    ClassPolicy    `json:"class_policy"`
	Sites    []SiteDecision `json:"sites"`
	Problems []string       `json:"problems,omitempty"` // the allowed sites cannot meet the class's minimums
}

// Allowed returns the names of the sites that may hold the dataset.
func (p *Placement) Allowed() []string {
	var out []string
	for _, s := range p.Sites {
		if s.Decision.Allow {
			out = append(out, s.Site.Name)
		}
	}
	return out
}

// Explain loops the candidate sites through Decide for a write, then checks
// that the allowed ones can meet the class's copy and jurisdiction minimums.
func (e *Engine) Explain(ds Dataset, sites []Site, now time.Time) *Placement {
	lbl, _ := class.Parse(ds.Class)
	p := &Placement{Dataset: ds, Class: e.settings.For(lbl)}
	var allowed []Site
	for _, s := range sites {
		d := e.Decide(Request{Action: Write, Dataset: ds, Site: s, Now: now})
		p.Sites = append(p.Sites, SiteDecision{s, d})
		if d.Allow {
			allowed = append(allowed, s)
		}
	}
	if ds.Class != "" {
		p.Problems = e.CheckCopies(ds, allowed)
	}
	return p
}

// Problem is a shortfall of a set of sites against a class rule, named by
// the rule (min-copies, min-jurisdictions, erasure, label) so that callers
// never match message text.
type Problem struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// Rules of the class shortfalls.
const (
	RuleLabel            = "label"
	RuleMinCopies        = "min-copies"
	RuleMinJurisdictions = "min-jurisdictions"
	RuleErasure          = "erasure"
)

// CheckCopies is CopyProblems as messages.
func (e *Engine) CheckCopies(ds Dataset, held []Site) []string {
	var out []string
	for _, p := range e.CopyProblems(ds, held) {
		out = append(out, p.Reason)
	}
	return out
}

// CopyProblems checks a set of sites holding (or about to hold) ds against
// the class's minimum copies and jurisdictions. Home does not count.
func (e *Engine) CopyProblems(ds Dataset, held []Site) []Problem {
	lbl, err := class.Parse(ds.Class)
	if err != nil {
		return []Problem{{RuleLabel, fmt.Sprintf("dataset %s has no valid classification label", ds.Name)}}
	}
	cp := e.settings.For(lbl)
	var js []string
	n := 0
	for _, s := range held {
		if s.Home {
			continue
		}
		n++
		if !slices.Contains(js, s.Jurisdiction) {
			js = append(js, s.Jurisdiction)
		}
	}
	var out []Problem
	if n < cp.MinCopies {
		out = append(out, Problem{RuleMinCopies, fmt.Sprintf("%s data needs %d copies at sites; %d available", lbl, cp.MinCopies, n)})
	}
	if len(js) < cp.MinJurisdictions {
		have := "none"
		if len(js) > 0 {
			have = fmt.Sprintf("only %d (%s)", len(js), strings.Join(js, ", "))
		}
		out = append(out, Problem{RuleMinJurisdictions, fmt.Sprintf("%s data is critical and needs copies in %d jurisdictions; %s: add a site in another jurisdiction", lbl, cp.MinJurisdictions, have)})
	}
	return out
}

// Alert is a standing problem with an agreement.
type Alert struct {
	Agreement string `json:"agreement"`
	Kind      string `json:"kind"` // expired, review-overdue, not-yet-effective
	Message   string `json:"message"`
}

// Alerts lists expired agreements and overdue reviews at now.
func (e *Engine) Alerts(now time.Time) []Alert {
	var out []Alert
	ids := make([]string, 0, len(e.ags))
	for id := range e.ags {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		st := e.ags[id].StatusAt(now, e.base)
		if st.Expired {
			out = append(out, Alert{id, "expired", fmt.Sprintf("agreement %s expired on %s: new writes under it are blocked", id, st.Expires.Format(time.DateOnly))})
		}
		if st.ReviewOverdue {
			out = append(out, Alert{id, "review-overdue", fmt.Sprintf("agreement %s: the hosted-dataset review was due on %s", id, st.ReviewDue.Format(time.DateOnly))})
		}
	}
	return out
}

// Agreement returns an installed agreement by id.
func (e *Engine) Agreement(id string) *agreement.Agreement { return e.ags[id] }

// Event is something the transparency log must record: a denial, or a
// change of policy or agreement.
type Event struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"` // policy-denied, agreement-installed, agreement-override, policy-settings-changed
	Action    Action    `json:"action,omitempty"`
	Dataset   string    `json:"dataset,omitempty"`
	DatasetID string    `json:"dataset_id,omitempty"` // what the log's entry names (entries never carry a dataset's name)
	Class     string    `json:"class,omitempty"`
	Site      string    `json:"site,omitempty"`
	Agreement string    `json:"agreement,omitempty"`
	Digest    string    `json:"digest,omitempty"` // agreement or settings SHA-256
	Rules     []string  `json:"rules,omitempty"`
	Reasons   []string  `json:"reasons,omitempty"`
}

// DenialEvent returns the event to log for a denied request.
func DenialEvent(r Request, d Decision) Event {
	return Event{Time: r.Now.UTC(), Kind: "policy-denied", Action: r.Action, Dataset: r.Dataset.Name, DatasetID: r.Dataset.ID, Class: r.Dataset.Class,
		Site: r.Site.Name, Agreement: r.Site.Agreement, Rules: d.Rules, Reasons: d.Reasons}
}
