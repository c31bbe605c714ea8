package policy

import (
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// EventBreakGlassClosed is the policy.change event with which the sending
// state closes a site's break-glass emergency access.
const EventBreakGlassClosed = "break-glass-closed"

// BreakGlass is the state of break-glass emergency access at one site.
type BreakGlass struct {
	Site   string    `json:"site"`
	Open   bool      `json:"open"`
	Since  time.Time `json:"since,omitzero"` // access time of the disclosure that opened it
	Opened uint64    `json:"opened_index,omitempty"`
	Closed uint64    `json:"closed_index,omitempty"`
}

// BreakGlassAt reads a site's break-glass state from the log (framework
// requirement 6). Break-glass is a distinct access class: every
// EMERGENCY_BREAK_GLASS disclosure at the site opens it, and only the
// sending state closes it, with a policy.change entry written by the home
// (event break-glass-closed) later in the log. A host cannot close it: the
// entries it files are disclosures, never the home's policy events.
func BreakGlassAt(ents []tlog.Indexed, site string) BreakGlass {
	var t BreakGlassTracker
	for _, e := range ents {
		if e.Site == site {
			t.Add(e)
		}
	}
	return t.At(site)
}

// BreakGlassTracker follows every site's break-glass state through the
// log in order (BreakGlassAt for one site).
type BreakGlassTracker struct{ sites map[string]*BreakGlass }

// Add takes the next log entry.
func (t *BreakGlassTracker) Add(e tlog.Indexed) {
	if t.sites == nil {
		t.sites = map[string]*BreakGlass{}
	}
	bg := t.sites[e.Site]
	if bg == nil {
		bg = &BreakGlass{Site: e.Site}
		t.sites[e.Site] = bg
	}
	switch {
	case e.Kind == tlog.KindDisclosure && e.Reason == tlog.ReasonEmergency:
		if !bg.Open {
			bg.Since = e.AccessTime()
			if bg.Since.IsZero() {
				bg.Since = e.Time
			}
			bg.Opened = e.Index
		}
		bg.Open = true
	case e.Kind == tlog.KindPolicyChange && e.Details["event"] == EventBreakGlassClosed && bg.Open:
		bg.Open, bg.Closed = false, e.Index
	}
}

// At returns a site's state after the entries added so far.
func (t *BreakGlassTracker) At(site string) BreakGlass {
	if bg := t.sites[site]; bg != nil {
		return *bg
	}
	return BreakGlass{Site: site}
}

// BreakGlassEntry is the entry that closes a site's break-glass.
func BreakGlassEntry(site, note string) tlog.Entry {
	e := tlog.PolicyEventEntry(EventBreakGlassClosed, "", site, "", "", "", nil, nil)
	e.Object = note
	e.Details[tlog.DetailInitiator] = "home"
	return e
}
