package policy

import (
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

func TestBreakGlassAt(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	var ents []tlog.Indexed
	add := func(e tlog.Entry) {
		ents = append(ents, tlog.Indexed{Index: uint64(len(ents)), Entry: e})
	}
	if bg := BreakGlassAt(ents, "lu"); bg.Open {
		t.Fatal("open in an empty log")
	}
	add(tlog.Entry{Kind: tlog.KindDisclosure, Site: "lu", Reason: tlog.ReasonHostService})
	add(tlog.Entry{Kind: tlog.KindDisclosure, Site: "lu", Reason: tlog.ReasonEmergency, Time: at.Add(2 * time.Hour),
		Details: map[string]string{tlog.DetailAt: at.Format(time.RFC3339Nano)}})
	bg := BreakGlassAt(ents, "lu")
	if !bg.Open || !bg.Since.Equal(at) || bg.Opened != 1 {
		t.Fatalf("after an emergency disclosure: %+v", bg)
	}
	if BreakGlassAt(ents, "ch").Open {
		t.Error("another site's break-glass is open")
	}
	// a host-filed disclosure cannot close it, nor a close for another site
	add(tlog.Entry{Kind: tlog.KindDisclosure, Site: "lu", Reason: tlog.ReasonHostService, Details: map[string]string{"event": EventBreakGlassClosed}})
	add(BreakGlassEntry("ch", "wrong site"))
	if !BreakGlassAt(ents, "lu").Open {
		t.Fatal("closed by a disclosure or by another site's close")
	}
	add(BreakGlassEntry("lu", "fire brigade left; hall B sealed"))
	if bg := BreakGlassAt(ents, "lu"); bg.Open || bg.Closed != 4 {
		t.Fatalf("after the home's close: %+v", bg)
	}
	// a new emergency opens it again
	add(tlog.Entry{Kind: tlog.KindDisclosure, Site: "lu", Reason: tlog.ReasonEmergency, Time: at.Add(48 * time.Hour)})
	if bg := BreakGlassAt(ents, "lu"); !bg.Open || bg.Opened != 5 || !bg.Since.Equal(at.Add(48*time.Hour)) {
		t.Fatalf("second emergency: %+v", bg)
	}
	ce := BreakGlassEntry("lu", "x")
	ce.V, ce.Time = tlog.Version, at
	if err := ce.Validate(); err != nil {
		t.Errorf("close entry does not validate: %v", err)
	}
}

// FuzzBreakGlassAt: only the home's break-glass-closed event closes an
// open break-glass, whatever else the log holds.
func FuzzBreakGlassAt(f *testing.F) {
	f.Add("disclosure", "EMERGENCY_BREAK_GLASS", "", "lu")
	f.Add("policy.change", "", EventBreakGlassClosed, "lu")
	f.Add("disclosure", "HOST_INITIATED_SERVICE", EventBreakGlassClosed, "lu")
	f.Fuzz(func(t *testing.T, kind, reason, event, site string) {
		open := tlog.Indexed{Index: 0, Entry: tlog.Entry{Kind: tlog.KindDisclosure, Site: "lu", Reason: tlog.ReasonEmergency}}
		e := tlog.Indexed{Index: 1, Entry: tlog.Entry{Kind: kind, Site: site, Reason: reason, Details: map[string]string{"event": event}}}
		bg := BreakGlassAt([]tlog.Indexed{open, e}, "lu")
		closes := kind == tlog.KindPolicyChange && event == EventBreakGlassClosed && site == "lu"
		if bg.Open == closes {
			t.Fatalf("after %+v: open = %v", e.Entry, bg.Open)
		}
	})
}
