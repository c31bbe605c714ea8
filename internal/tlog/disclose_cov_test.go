package tlog

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

func disclosure(i uint64, siteName, reason, ticket string, at, logged time.Time) Indexed {
	d := map[string]string{DetailAccess: "console", DetailAt: at.Format(time.RFC3339Nano)}
	if ticket != "" {
		d[DetailTicket] = ticket
	}
	return Indexed{Index: i, Entry: Entry{Kind: KindDisclosure, Time: logged, Site: siteName, Actor: "ops", Object: "rack 4", Reason: reason, Details: d}}
}

func privileged(i uint64, kind, siteName, initiator, ticket string, at time.Time) Indexed {
	d := map[string]string{DetailInitiator: initiator}
	if ticket != "" {
		d[DetailTicket] = ticket
	}
	return Indexed{Index: i, Entry: Entry{Kind: kind, Time: at, Site: siteName, Actor: "host:7", Details: d}}
}

// TestDisclosures plays a host that uses keys and opens sessions: each
// privileged event needs a disclosure at the same site, near in time or
// with the same ticket. A disclosure after its deadline, a reason that is
// not expected, and an event with no disclosure once its deadline passed
// are alerts; an undisclosed event still within its deadline is pending.
// The home's own key uses need no disclosure.
func TestDisclosures(t *testing.T) {
	now := t0.Add(72 * time.Hour)
	entries := []Indexed{
		privileged(1, KindSession, "lu", "host", "", t0),                                              // disclosed 30 min later: matched by time
		disclosure(2, "lu", ReasonHostService, "", t0.Add(10*time.Minute), t0.Add(40*time.Minute)),    // 30 min delay
		privileged(3, KindKeyUse, "ch", "host", "T-9", t0.Add(time.Hour)),                             // matched by ticket, far in time
		disclosure(4, "ch", ReasonProductionAlert, "T-9", t0.Add(20*time.Hour), t0.Add(50*time.Hour)), // 30 h: late
		privileged(5, KindKeyUnwrap, "lu", "home", "", t0.Add(2*time.Hour)),                           // the home's own: no disclosure needed
		privileged(6, KindDaemonLogin, "fi", "host", "", t0.Add(3*time.Hour)),                         // never disclosed: alert
		privileged(7, KindSession, "lu", "host", "", now.Add(-time.Hour)),                             // recent: pending
		disclosure(8, "fi", ReasonNotExpected, "", t0.Add(30*time.Hour), t0.Add(30*time.Hour)),        // at fi, but 27 h after 6
		privileged(9, KindKeyUse, "ch", "host", "", t0.Add(20*time.Hour)),                             // same site, another ticket, within the window of 4
	}
	r := Disclosures(entries, DisclosureOptions{Now: now, Window: time.Hour})
	if len(r.Disclosures) != 3 {
		t.Fatalf("%d disclosures", len(r.Disclosures))
	}
	d := map[uint64]Disclosure{}
	for _, x := range r.Disclosures {
		d[x.Index] = x
	}
	if x := d[2]; x.Delay != 30*time.Minute || x.Late || len(x.Matched) != 1 || x.Matched[0] != 1 || x.DelayStr != "30m0s" {
		t.Fatalf("disclosure 2: %+v", x)
	}
	if x := d[4]; !x.Late || x.Allowed != DefaultAllowed || len(x.Matched) != 2 || x.Matched[0] != 3 || x.Matched[1] != 9 {
		t.Fatalf("disclosure 4: %+v", x)
	}
	if x := d[8]; len(x.Matched) != 0 {
		t.Fatalf("disclosure 8 matched %v, 27 h from any event", x.Matched)
	}
	var kinds []string
	for _, a := range r.Alerts {
		kinds = append(kinds, a.Kind+"@"+string(rune('0'+a.Index)))
	}
	if got := strings.Join(kinds, " "); got != "late-disclosure@4 undisclosed-access@6 unexpected-reason@8" {
		t.Fatalf("alerts: %s", got)
	}
	if len(r.Pending) != 1 || r.Pending[0].Index != 7 {
		t.Fatalf("pending: %+v", r.Pending)
	}
	if r.DelayP50 != 30*time.Minute || r.DelayMax != 30*time.Hour || r.DelayP99 != 30*time.Minute {
		t.Fatalf("delays p50 %v p99 %v max %v", r.DelayP50, r.DelayP99, r.DelayMax)
	}
	// A per-site deadline: fi allows 48 h, so event 6 is pending there.
	r = Disclosures(entries, DisclosureOptions{Now: t0.Add(40 * time.Hour), Allowed: func(s string) time.Duration {
		if s == "fi" {
			return 48 * time.Hour
		}
		return DefaultAllowed
	}})
	for _, a := range r.Alerts {
		if a.Index == 6 {
			t.Fatalf("event 6 alerted within fi's 48 h: %+v", a)
		}
	}
	if x := r.Disclosures[0]; x.Index != 2 {
		t.Fatalf("order: %+v", r.Disclosures)
	}
	// A disclosure logged before its access (a clock the host set back)
	// has no negative delay.
	r = Disclosures([]Indexed{disclosure(1, "lu", ReasonHostReview, "", t0.Add(time.Minute), t0)}, DisclosureOptions{Now: t0})
	if r.Disclosures[0].Delay != 0 {
		t.Fatalf("negative delay: %v", r.Disclosures[0].Delay)
	}
}

// TestBuilders pins the shape of the typed entries every entry point
// records: the same operation leaves the same entry whoever started it.
func TestBuilders(t *testing.T) {
	for _, c := range []struct {
		e    Entry
		want string
	}{
		{Snapshot(SnapshotFacts{DatasetID: "ds1", Snapshot: "s1", Class: "C2-I3-A3", Sites: []string{"lu", "ch"}, Files: 3, NewBlobs: 7, By: "protect"}),
			"snapshot ds1 s1  by=protect class=C2-I3-A3 files=3 new_blobs=7 sites=lu,ch"},
		{Snapshot(SnapshotFacts{DatasetID: "ds1", Snapshot: "s1"}), "snapshot ds1 s1  class= files=0 new_blobs=0 sites="},
		{Restore(RestoreFacts{DatasetID: "ds1", Snapshot: "s1", Files: 2, Sites: []string{"ch"}, By: "drill"}), "restore ds1 s1  by=drill files=2 sites=ch"},
		{Restore(RestoreFacts{DatasetID: "ds1", Snapshot: "s1"}), "restore ds1 s1  files=0"},
		{PolicyEventEntry("policy-denied", "write", "fi", "C2", "", "", []string{"residency-class"}, []string{"a", "b"}), "policy.change   fi action=write class=C2 event=policy-denied reasons=a; b rules=residency-class"},
		{PolicyEventEntry("agreement-installed", "", "", "", "lu-2026", "abcd", nil, nil), "agreement.change    agreement=lu-2026 digest=abcd event=agreement-installed"},
		{Verify(true, 2, []string{"lu", "ch"}), "verify    damage=2 read_data=true sites=lu,ch"},
		{Forget("ds1", "s1"), "forget ds1 s1  "},
		{Prune("ds1", 3, 1, 4096), "prune ds1   bytes_freed=4096 packs_deleted=3 packs_repacked=1"},
		{Repair("ch", "pack/x", "lu"), "repair  pack/x ch from=lu"},
	} {
		if got := shape(c.e); got != c.want {
			t.Errorf("entry %q, want %q", got, c.want)
		}
	}
}

func shape(e Entry) string {
	var d []string
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		d = append(d, k+"="+e.Details[k])
	}
	return e.Kind + " " + e.Dataset + " " + e.Object + " " + e.Site + " " + strings.Join(d, " ")
}

// TestEntryValidation: what a host may put in a disclosure or any entry is
// checked before it is logged: the reason and access codes, who, what and
// when, and the text of every field (length, UTF-8, no line breaks that
// would forge a second line in a printed log).
func TestEntryValidation(t *testing.T) {
	good := disclosure(1, "lu", ReasonHostService, "T-1", t0, t0.Add(time.Hour)).Entry
	good.V = Version
	if err := good.Validate(); err != nil {
		t.Fatalf("a valid disclosure: %v", err)
	}
	with := func(f func(e *Entry)) Entry {
		e := good
		e.Details = maps.Clone(good.Details)
		f(&e)
		return e
	}
	for name, c := range map[string]struct {
		e    Entry
		want string
	}{
		"unknown reason":   {with(func(e *Entry) { e.Reason = "BECAUSE" }), "disclosure reason"},
		"unknown access":   {with(func(e *Entry) { e.Details[DetailAccess] = "telepathy" }), "disclosure access"},
		"no who":           {with(func(e *Entry) { e.Actor = "" }), "needs a site, who"},
		"no what":          {with(func(e *Entry) { e.Object = "" }), "needs a site, who"},
		"bad time":         {with(func(e *Entry) { e.Details[DetailAt] = "yesterday" }), "access time"},
		"access after log": {with(func(e *Entry) { e.Details[DetailAt] = t0.Add(3 * time.Hour).Format(time.RFC3339) }), "after the disclosure itself"},
		"newline":          {with(func(e *Entry) { e.Object = "rack 4\nsnapshot forged" }), "control characters"},
		"carriage return":  {with(func(e *Entry) { e.Details[DetailTicket] = "T-1\r" }), "control characters"},
		"not utf-8":        {with(func(e *Entry) { e.Actor = "ops\xff" }), "UTF-8"},
		"long field":       {with(func(e *Entry) { e.Site = strings.Repeat("s", 300) }), "at most"},
		"bad detail key":   {with(func(e *Entry) { e.Details["Bad Key"] = "x" }), "detail key"},
	} {
		if err := c.e.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
}
