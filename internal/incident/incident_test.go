package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

func TestStatus(t *testing.T) {
	var ents []tlog.Indexed
	add := func(e tlog.Entry, at time.Time) {
		e.Time = at
		ents = append(ents, tlog.Indexed{Index: uint64(len(ents)), Entry: e})
	}
	mk := func(site, typ string, occ time.Time) tlog.Entry {
		e, err := Filing{Site: site, Type: typ, Reporter: "LU GITC duty officer", What: "UPS fire, hall B", Occurred: occ}.Entry()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	add(mk("lu", "physical", t0), t0.Add(2*time.Hour))   // 0: notified in 2 h
	add(mk("lu", "security", t0), t0.Add(30*time.Hour))  // 1: notified late (24 h allowed)
	add(mk("ch", "availability", t0), t0.Add(time.Hour)) // 2: never acknowledged
	add(AckEntry(0, "lu", "seen; attaché on the way"), t0.Add(3*time.Hour))
	add(tlog.Entry{Kind: KindAck, Site: "lu", Details: map[string]string{DetailFiled: "1"}}, t0.Add(31*time.Hour)) // a host's "ack": ignored
	add(AckEntry(2, "lu", "wrong site"), t0.Add(2*time.Hour))                                                      // ignored
	allowed := func(string) time.Duration { return 24 * time.Hour }
	is := Status(ents, t0.Add(60*time.Hour), allowed)
	if len(is) != 3 {
		t.Fatalf("%d incidents", len(is))
	}
	if is[0].Late || is[0].Escalated || is[0].AckIndex != 3 {
		t.Errorf("acknowledged in time: %+v", is[0])
	}
	if !is[1].Late || !is[1].Escalated || !is[1].Acked.IsZero() {
		t.Errorf("late, and acknowledged only by the host: %+v", is[1])
	}
	if is[2].Late || !is[2].Escalated {
		t.Errorf("never acknowledged, past its deadline: %+v", is[2])
	}
	// before the deadline it is pending, not escalated
	if is := Status(ents, t0.Add(10*time.Hour), allowed); is[2].Escalated {
		t.Errorf("escalated before its deadline: %+v", is[2])
	}
}

func TestFilingErrors(t *testing.T) {
	for _, tc := range []struct {
		f    Filing
		want string
	}{
		{Filing{Type: "physical", Reporter: "r", What: "w", Occurred: t0}, "site"},
		{Filing{Site: "lu", Type: "weather", Reporter: "r", What: "w", Occurred: t0}, "incident type"},
		{Filing{Site: "lu", Type: "physical", Occurred: t0}, "what happened"},
		{Filing{Site: "lu", Type: "physical", Reporter: "r", What: "w"}, "time it occurred"},
	} {
		if _, err := tc.f.Entry(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
	e, err := Filing{Site: "lu", Type: "legal-process", Reporter: "r", What: "w", Occurred: t0}.Entry()
	if err != nil {
		t.Fatal(err)
	}
	e.V, e.Time = tlog.Version, t0
	if err := e.Validate(); err != nil {
		t.Errorf("entry does not validate: %v", err)
	}
}

// FuzzStatus: entries as anyone may have filed them (details, indexes and
// times of any shape) never panic, and only the home's acknowledgements
// count.
func FuzzStatus(f *testing.F) {
	f.Add("incident", "lu", "physical", "2026-11-25T03:00:00Z", "", "", int64(0))
	f.Add("incident.ack", "lu", "", "", "0", "home", int64(3600))
	f.Add("incident.ack", "lu", "", "", "18446744073709551615", "host", int64(-1))
	f.Fuzz(func(t *testing.T, kind, site, typ, occurred, filed, initiator string, secs int64) {
		first, _ := Filing{Site: "lu", Type: "physical", Reporter: "r", What: "w", Occurred: t0}.Entry()
		first.Time = t0
		e := tlog.Entry{Kind: kind, Site: site, Time: t0.Add(time.Duration(secs) * time.Second),
			Details: map[string]string{DetailType: typ, DetailOccurred: occurred, DetailFiled: filed, tlog.DetailInitiator: initiator}}
		is := Status([]tlog.Indexed{{Index: 0, Entry: first}, {Index: 1, Entry: e}}, t0.Add(time.Hour), func(string) time.Duration { return time.Hour })
		if len(is) == 0 {
			t.Fatal("the first incident is gone")
		}
		if !is[0].Acked.IsZero() && (initiator != "home" || site != "lu" || kind != KindAck) {
			t.Fatalf("acknowledged by %+v", e)
		}
	})
}
