package sla

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/tlog"
)

var nov = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func at(day, hour int) time.Time {
	return nov.Add(time.Duration(day-1)*24*time.Hour + time.Duration(hour)*time.Hour)
}

func terms() Terms {
	return Terms{AvailabilityPercent: 99.5, RPO: 24 * time.Hour, RTO: 30 * time.Minute, IncidentHours: 24, DisclosureHours: 24}
}

// fixedLog is a month at lu-1: daily snapshots but for one 3-day gap, a
// passed and a slow drill, an incident notified late, a disclosure in
// time.
func fixedLog() []tlog.Indexed {
	var es []tlog.Entry
	for d := 1; d <= 30; d++ {
		if d >= 10 && d <= 12 {
			continue
		}
		es = append(es, tlog.Entry{Kind: tlog.KindSnapshot, Time: at(d, 2), Dataset: "ds1", Details: map[string]string{"sites": "lu-1,ch-1"}})
	}
	es = append(es, tlog.Entry{Kind: tlog.KindSnapshot, Time: at(5, 2), Dataset: "elsewhere", Details: map[string]string{"sites": "us-1"}})
	es = append(es,
		tlog.Entry{Kind: tlog.KindDrill, Time: at(3, 9), Details: map[string]string{"plan": "registry", "pass": "true", "rto_seconds": "600.0"}},
		tlog.Entry{Kind: tlog.KindDrill, Time: at(17, 9), Details: map[string]string{"plan": "registry", "pass": "true", "rto_seconds": "2400.0"}})
	inc, _ := incident.Filing{Site: "lu-1", Type: "availability", Reporter: "duty officer", What: "power loss", Occurred: at(20, 0)}.Entry()
	inc.Time = at(22, 0) // notified 48 h later
	es = append(es, inc)
	es = append(es, tlog.Entry{Kind: tlog.KindDisclosure, Time: at(8, 12), Site: "lu-1", Actor: "ops", Object: "disk swap", Reason: tlog.ReasonHostService,
		Details: map[string]string{"access": "console", "at": at(8, 10).Format(time.RFC3339Nano)}})
	out := make([]tlog.Indexed, len(es))
	for i, e := range es {
		out[i] = tlog.Indexed{Index: uint64(i), Entry: e}
	}
	return out
}

// TestComputeFixedLog: the SLA computed from a fixed log and probe series
// with an injected 6-hour outage of lu-1.
func TestComputeFixedLog(t *testing.T) {
	var probes []Probe
	for h := 0; h < 30*24; h++ {
		up := h < 100 || h >= 106 // down from hour 100 to 106
		p := Probe{Time: nov.Add(time.Duration(h) * time.Hour), Site: "lu-1", Up: up}
		if !up {
			p.Error = "connection refused"
		}
		probes = append(probes, p, Probe{Time: p.Time, Site: "ch-1", Up: true})
	}
	r := Compute(Input{Agreement: "ee-lu", Month: nov, Now: nov.AddDate(0, 2, 0), Sites: []string{"lu-1", "ch-1"}, Terms: terms(), Probes: probes, Entries: fixedLog()})
	if r.Month != "2026-11" || !r.To.Equal(nov.AddDate(0, 1, 0)) {
		t.Fatalf("period %s %s", r.Month, r.To)
	}
	lu := r.Availability[1]
	wantOut := []Outage{{Site: "lu-1", From: nov.Add(100 * time.Hour), To: nov.Add(106 * time.Hour), Error: "connection refused"}}
	if d := cmp.Diff(wantOut, lu.Outages); d != "" || lu.Met {
		t.Fatalf("lu-1 outages (-want +got):\n%s met %v", d, lu.Met)
	}
	// 6 h down of 720 h: 99.1667%, below 99.5%.
	if lu.Percent < 99.16 || lu.Percent > 99.17 || !r.Availability[0].Met || r.Availability[0].Percent != 100 {
		t.Fatalf("availability %+v", r.Availability)
	}
	if len(r.RPO) != 1 || r.RPO[0].Dataset != "ds1" || r.RPO[0].MaxGap != 96*time.Hour || r.RPO[0].Met {
		t.Fatalf("rpo %+v", r.RPO)
	}
	if len(r.Drills) != 2 || !r.Drills[0].Met || r.Drills[1].Met {
		t.Fatalf("drills %+v", r.Drills)
	}
	if r.Incidents != 1 || len(r.LateIncident) != 1 || r.LateIncident[0].Delay != 48*time.Hour {
		t.Fatalf("incidents %d %+v", r.Incidents, r.LateIncident)
	}
	if r.Disclosures != 1 || len(r.LateDisclose) != 0 {
		t.Fatalf("disclosures %d %+v", r.Disclosures, r.LateDisclose)
	}
	want := []string{
		"site lu-1: available 99.167% of 2026-11, below the agreed 99.5% (1 outage)",
		"dataset ds1: 96h0m0s without a snapshot at the agreement's sites, longer than the agreed recovery point 24h0m0s",
		"drill 29 (registry): recovery in 2400 s (pass true), agreed recovery time 30m0s",
		"incident 30 at lu-1 notified 48h0m0s after it occurred, agreed 24h0m0s",
	}
	if d := cmp.Diff(want, r.Breaches); d != "" {
		t.Fatalf("breaches (-want +got):\n%s", d)
	}
}

// TestComputeUnmeasured: a site never probed is a breach, not 100%.
func TestComputeUnmeasured(t *testing.T) {
	r := Compute(Input{Month: nov, Now: at(15, 0), Sites: []string{"lu-1"}, Terms: terms()})
	if r.Availability[0].Percent != -1 || len(r.Breaches) != 1 || !strings.Contains(r.Breaches[0], "not measured") || !r.To.Equal(at(15, 0)) {
		t.Fatalf("%+v", r)
	}
	// An outage still open at the end of the period runs to its end.
	r = Compute(Input{Month: nov, Now: at(2, 0), Sites: []string{"lu-1"}, Terms: terms(),
		Probes: []Probe{{Time: at(1, 0), Site: "lu-1", Up: true}, {Time: at(1, 12), Site: "lu-1"}}})
	if a := r.Availability[0]; a.Percent != 50 || len(a.Outages) != 1 || !a.Outages[0].To.Equal(at(2, 0)) {
		t.Fatalf("%+v", a)
	}
}

func TestMonthOf(t *testing.T) {
	if m, err := MonthOf("2026-11"); err != nil || !m.Equal(nov) {
		t.Fatal(m, err)
	}
	if _, err := MonthOf("november"); err == nil {
		t.Fatal("accepted")
	}
}
