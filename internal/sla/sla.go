// Package sla computes the monthly SLA report of one agreement (framework
// requirement 26) from what the home recorded: its availability probes of
// the agreement's sites, and its transparency log (snapshots for the
// recovery point, drills for the recovery time, incidents and access
// disclosures against their deadlines). The package is pure: the caller
// reads the probes and the log and signs the result.
package sla

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Format is the format of a report (docs/SLA.md).
const Format = "embassy-sla/v1"

// Probe is one availability measurement of a site from home.
type Probe struct {
	Time  time.Time `json:"time"`
	Site  string    `json:"site"`
	Up    bool      `json:"up"`
	Error string    `json:"error,omitempty"`
}

// Terms are the agreement's terms the report measures against.
type Terms struct {
	AvailabilityPercent float64       `json:"availability_percent"`
	RPO                 time.Duration `json:"rpo_ns"`
	RTO                 time.Duration `json:"rto_ns"`
	IncidentHours       int           `json:"incident_notification_hours"`
	DisclosureHours     int           `json:"disclosure_delay_hours"`
}

// Input is one agreement's month.
type Input struct {
	Agreement string
	Digest    string // the agreement's signing digest
	Home      string
	Month     time.Time // any time in the month (UTC)
	Now       time.Time // when the report is made: a month not over ends here
	Sites     []string  // the agreement's sites
	Terms     Terms
	Probes    []Probe
	Entries   []tlog.Indexed
}

// Outage is a run of failed probes: from the first failure to the next
// success (or the end of the period).
type Outage struct {
	Site  string    `json:"site"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Error string    `json:"error,omitempty"`
}

// Availability is one site's month.
type Availability struct {
	Site    string   `json:"site"`
	Probes  int      `json:"probes"`
	Percent float64  `json:"percent"` // of the measured period; -1 if never measured
	Outages []Outage `json:"outages,omitempty"`
	Met     bool     `json:"met"`
}

// RecoveryPoint is one dataset's longest gap between snapshots reaching
// the agreement's sites.
type RecoveryPoint struct {
	Dataset string        `json:"dataset"` // the dataset id of the log
	MaxGap  time.Duration `json:"max_gap_ns"`
	Met     bool          `json:"met"`
}

// Drill is one restore drill of the month.
type Drill struct {
	Index uint64  `json:"index"`
	Plan  string  `json:"plan"`
	RTO   float64 `json:"rto_seconds"`
	Pass  bool    `json:"pass"`
	Met   bool    `json:"met"`
}

// Late is an incident or disclosure that came late.
type Late struct {
	Index   uint64        `json:"index"`
	Site    string        `json:"site"`
	What    string        `json:"what"`
	Delay   time.Duration `json:"delay_ns"`
	Allowed time.Duration `json:"allowed_ns"`
}

// Report is the month's SLA report.
type Report struct {
	Format       string          `json:"format"`
	Agreement    string          `json:"agreement"`
	Digest       string          `json:"agreement_digest"`
	Home         string          `json:"home"`
	Month        string          `json:"month"` // YYYY-MM
	From         time.Time       `json:"from"`
	To           time.Time       `json:"to"`
	Terms        Terms           `json:"terms"`
	Availability []Availability  `json:"availability"`
	RPO          []RecoveryPoint `json:"recovery_point"`
	Drills       []Drill         `json:"drills"`
	Incidents    int             `json:"incidents"`
	LateIncident []Late          `json:"late_incidents,omitempty"`
	Disclosures  int             `json:"disclosures"`
	LateDisclose []Late          `json:"late_disclosures,omitempty"`
	Undisclosed  int             `json:"undisclosed_accesses"`
	Breaches     []string        `json:"breaches"`
}

// MonthOf parses YYYY-MM.
func MonthOf(s string) (time.Time, error) {
	m, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("month %q: use YYYY-MM, e.g. 2026-11", s)
	}
	return m, nil
}

// Compute makes the report.
func Compute(in Input) *Report {
	from := time.Date(in.Month.Year(), in.Month.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	if in.Now.Before(to) {
		to = in.Now
	}
	r := &Report{Format: Format, Agreement: in.Agreement, Digest: in.Digest, Home: in.Home, Month: from.Format("2006-01"),
		From: from, To: to, Terms: in.Terms, Breaches: []string{}, Availability: []Availability{}, RPO: []RecoveryPoint{}, Drills: []Drill{}}
	breach := func(format string, a ...any) { r.Breaches = append(r.Breaches, fmt.Sprintf(format, a...)) }
	sites := slices.Clone(in.Sites)
	sort.Strings(sites)
	for _, s := range sites {
		a := availability(s, in.Probes, from, to, in.Terms.AvailabilityPercent)
		r.Availability = append(r.Availability, a)
		switch {
		case a.Percent < 0:
			breach("site %s: availability not measured in %s (no probes: run 'embassy sla probe' on a schedule)", s, r.Month)
		case !a.Met:
			outages := "outages"
			if len(a.Outages) == 1 {
				outages = "outage"
			}
			breach("site %s: available %.3f%% of %s, below the agreed %g%% (%d %s)", s, a.Percent, r.Month, in.Terms.AvailabilityPercent, len(a.Outages), outages)
		}
	}
	r.RPO = recoveryPoints(in.Entries, sites, from, to, in.Terms.RPO)
	for _, p := range r.RPO {
		if !p.Met {
			breach("dataset %s: %s without a snapshot at the agreement's sites, longer than the agreed recovery point %s", p.Dataset, p.MaxGap.Round(time.Minute), in.Terms.RPO)
		}
	}
	hours := func(h int) func(string) time.Duration {
		return func(string) time.Duration { return time.Duration(h) * time.Hour }
	}
	for _, e := range in.Entries {
		if e.Kind != tlog.KindDrill || e.Time.Before(from) || !e.Time.Before(to) {
			continue
		}
		rto, err := strconv.ParseFloat(e.Details["rto_seconds"], 64)
		if err != nil {
			rto = -1 // an entry without a measured recovery time shows none
		}
		d := Drill{Index: e.Index, Plan: e.Details["plan"], RTO: rto, Pass: e.Details["pass"] == "true"}
		d.Met = d.Pass && rto >= 0 && time.Duration(rto*float64(time.Second)) <= in.Terms.RTO
		r.Drills = append(r.Drills, d)
		if !d.Met {
			breach("drill %d (%s): recovery in %.0f s (pass %t), agreed recovery time %s", d.Index, d.Plan, rto, d.Pass, in.Terms.RTO)
		}
	}
	for _, inc := range incident.Status(in.Entries, to, hours(in.Terms.IncidentHours)) {
		if !slices.Contains(sites, inc.Site) || inc.Notified.Before(from) || !inc.Notified.Before(to) {
			continue
		}
		r.Incidents++
		if delay := inc.Notified.Sub(inc.Occurred); delay > inc.Allowed {
			r.LateIncident = append(r.LateIncident, Late{Index: inc.Index, Site: inc.Site, What: inc.Type + ": " + inc.What, Delay: delay, Allowed: inc.Allowed})
			breach("incident %d at %s notified %s after it occurred, agreed %s", inc.Index, inc.Site, delay.Round(time.Minute), inc.Allowed)
		}
	}
	dr := tlog.Disclosures(in.Entries, tlog.DisclosureOptions{Allowed: hours(in.Terms.DisclosureHours), Now: to})
	for _, d := range dr.Disclosures {
		if !slices.Contains(sites, d.Site) || d.Logged.Before(from) || !d.Logged.Before(to) {
			continue
		}
		r.Disclosures++
		if d.Late {
			r.LateDisclose = append(r.LateDisclose, Late{Index: d.Index, Site: d.Site, What: d.Reason + ": " + d.What, Delay: d.Delay, Allowed: d.Allowed})
			breach("disclosure %d at %s came %s after the access, agreed %s", d.Index, d.Site, d.Delay.Round(time.Minute), d.Allowed)
		}
	}
	for _, a := range dr.Alerts {
		if a.Kind == "undisclosed-access" && slices.Contains(sites, a.Site) && !a.Time.Before(from) && a.Time.Before(to) {
			r.Undisclosed++
			breach("access %d at %s was never disclosed", a.Index, a.Site)
		}
	}
	return r
}

func availability(site string, probes []Probe, from, to time.Time, target float64) Availability {
	var ps []Probe
	for _, p := range probes {
		if p.Site == site && !p.Time.Before(from) && p.Time.Before(to) {
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Time.Before(ps[j].Time) })
	a := Availability{Site: site, Probes: len(ps), Percent: -1}
	if len(ps) == 0 {
		return a
	}
	// The measured period runs from the first probe to the end of the
	// month (or now); an outage from a failed probe to the next success.
	start := ps[0].Time
	var down time.Duration
	var cur *Outage
	for _, p := range ps {
		switch {
		case !p.Up && cur == nil:
			cur = &Outage{Site: site, From: p.Time, Error: p.Error}
		case p.Up && cur != nil:
			cur.To = p.Time
			a.Outages = append(a.Outages, *cur)
			down += cur.To.Sub(cur.From)
			cur = nil
		}
	}
	if cur != nil {
		cur.To = to
		a.Outages = append(a.Outages, *cur)
		down += cur.To.Sub(cur.From)
	}
	period := to.Sub(start)
	if period <= 0 {
		a.Percent = 100
		if !ps[len(ps)-1].Up {
			a.Percent = 0
		}
	} else {
		a.Percent = 100 * (1 - float64(down)/float64(period))
	}
	a.Met = a.Percent >= target
	return a
}

func recoveryPoints(ents []tlog.Indexed, sites []string, from, to time.Time, rpo time.Duration) []RecoveryPoint {
	last := map[string]time.Time{}
	gap := map[string]time.Duration{}
	var ids []string
	for _, e := range ents {
		if e.Kind != tlog.KindSnapshot || !e.Time.Before(to) {
			continue
		}
		if !slices.ContainsFunc(strings.Split(e.Details["sites"], ","), func(s string) bool { return slices.Contains(sites, s) }) {
			continue
		}
		if _, ok := last[e.Dataset]; !ok {
			ids = append(ids, e.Dataset)
		}
		if t, ok := last[e.Dataset]; ok && e.Time.After(from) {
			gap[e.Dataset] = max(gap[e.Dataset], e.Time.Sub(maxTime(t, from)))
		}
		last[e.Dataset] = e.Time
	}
	sort.Strings(ids)
	var out []RecoveryPoint
	for _, id := range ids {
		g := max(gap[id], to.Sub(maxTime(last[id], from)))
		out = append(out, RecoveryPoint{Dataset: id, MaxGap: g, Met: rpo <= 0 || g <= rpo})
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
