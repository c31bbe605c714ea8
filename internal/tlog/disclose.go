package tlog

import (
	"fmt"
	"sort"
	"time"
)

// Indexed is an entry with its position in the log.
type Indexed struct {
	Index uint64 `json:"index"`
	Entry
}

// DisclosureOptions tune Disclosures.
type DisclosureOptions struct {
	// Allowed is how long after an access its disclosure may come
	// (default 24 h; the site's agreement will supply it).
	Allowed func(site string) time.Duration
	// Window is how far apart a privileged event and the access time of its
	// disclosure may be and still match (default 1 h).
	Window time.Duration
	// Now is the time of the report; privileged events younger than Allowed
	// without a disclosure are pending, not yet alerts.
	Now time.Time
}

// DefaultAllowed is the default disclosure deadline.
const DefaultAllowed = 24 * time.Hour

// Disclosure is one disclosure with its measured delay.
type Disclosure struct {
	Index    uint64        `json:"index"`
	Site     string        `json:"site"`
	Reason   string        `json:"reason"`
	Access   string        `json:"access"`
	Who      string        `json:"who"`
	What     string        `json:"what"`
	Ticket   string        `json:"ticket,omitempty"`
	At       time.Time     `json:"at"`
	Logged   time.Time     `json:"logged"`
	Delay    time.Duration `json:"delay_ns"`
	Allowed  time.Duration `json:"allowed_ns"`
	Late     bool          `json:"late"`
	Matched  []uint64      `json:"matched_events,omitempty"`
	DelayStr string        `json:"delay"`
}

// Alert is a problem found in the log.
type Alert struct {
	Kind    string    `json:"kind"` // undisclosed-access, late-disclosure, unexpected-reason
	Index   uint64    `json:"index"`
	Site    string    `json:"site,omitempty"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// DisclosureReport is the result of Disclosures.
type DisclosureReport struct {
	Disclosures []Disclosure  `json:"disclosures"`
	Alerts      []Alert       `json:"alerts"`
	Pending     []Indexed     `json:"pending,omitempty"` // privileged events still within their deadline
	DelayP50    time.Duration `json:"delay_p50_ns"`
	DelayP99    time.Duration `json:"delay_p99_ns"`
	DelayMax    time.Duration `json:"delay_max_ns"`
}

// Disclosures measures each disclosure's delay against the hours allowed and
// cross-checks privileged events (key uses, host sessions) against them: an
// event with no disclosure at the same site within the window (or with the
// same ticket) raises an undisclosed-access alert once its deadline passed.
func Disclosures(entries []Indexed, o DisclosureOptions) DisclosureReport {
	if o.Allowed == nil {
		o.Allowed = func(string) time.Duration { return DefaultAllowed }
	}
	if o.Window <= 0 {
		o.Window = time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	var r DisclosureReport
	var delays []time.Duration
	for _, e := range entries {
		if e.Kind != KindDisclosure {
			continue
		}
		d := Disclosure{Index: e.Index, Site: e.Site, Reason: e.Reason, Access: e.Details[DetailAccess],
			Who: e.Actor, What: e.Object, Ticket: e.Details[DetailTicket], At: e.AccessTime(), Logged: e.Time,
			Allowed: o.Allowed(e.Site)}
		d.Delay = d.Logged.Sub(d.At)
		if d.Delay < 0 {
			d.Delay = 0
		}
		d.DelayStr = d.Delay.Round(time.Second).String()
		d.Late = d.Delay > d.Allowed
		delays = append(delays, d.Delay)
		if d.Late {
			r.Alerts = append(r.Alerts, Alert{Kind: "late-disclosure", Index: e.Index, Site: e.Site, Time: e.Time,
				Message: fmt.Sprintf("access at %s disclosed after %s, allowed %s", d.At.Format(time.RFC3339), d.DelayStr, d.Allowed)})
		}
		if e.Reason == ReasonNotExpected {
			r.Alerts = append(r.Alerts, Alert{Kind: "unexpected-reason", Index: e.Index, Site: e.Site, Time: e.Time,
				Message: fmt.Sprintf("%s accessed %s with no expected reason", e.Actor, e.Object)})
		}
		r.Disclosures = append(r.Disclosures, d)
	}
	for _, e := range entries {
		if !e.Privileged() {
			continue
		}
		matched := false
		for i := range r.Disclosures {
			d := &r.Disclosures[i]
			if d.Site != e.Site {
				continue
			}
			t := e.Details[DetailTicket]
			if (t != "" && t == d.Ticket) || absDur(d.At.Sub(e.Time)) <= o.Window {
				d.Matched = append(d.Matched, e.Index)
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if o.Now.Sub(e.Time) <= o.Allowed(e.Site) {
			r.Pending = append(r.Pending, e)
			continue
		}
		r.Alerts = append(r.Alerts, Alert{Kind: "undisclosed-access", Index: e.Index, Site: e.Site, Time: e.Time,
			Message: fmt.Sprintf("%s by %q at site %q has no matching disclosure", e.Kind, e.Actor, e.Site)})
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	if n := len(delays); n > 0 {
		r.DelayP50 = delays[(n-1)*50/100]
		r.DelayP99 = delays[(n-1)*99/100]
		r.DelayMax = delays[n-1]
	}
	sort.SliceStable(r.Alerts, func(i, j int) bool { return r.Alerts[i].Index < r.Alerts[j].Index })
	return r
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
