package approval

import (
	"strconv"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

func TestStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var ents []tlog.Indexed
	add := func(e tlog.Entry) {
		e.Time = t0.Add(time.Duration(len(ents)) * time.Minute)
		ents = append(ents, tlog.Indexed{Index: uint64(len(ents)), Entry: e})
	}
	req := func(reason string) tlog.Entry {
		e, err := Request{Site: "lu", Reason: reason, Access: "support", Who: "LU vendor engineer", What: "firmware on array 2"}.Entry()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	add(req(tlog.ReasonHostService))                                                                                          // 0: approved
	add(req(tlog.ReasonHostReview))                                                                                           // 1: stays pending
	add(req(tlog.ReasonThirdPartyRequest))                                                                                    // 2: denied
	add(tlog.Entry{Kind: KindDecision, Site: "lu", Details: map[string]string{DetailRequest: "1", DetailDecision: Approved}}) // 3: a host's "approval": ignored
	add(DecisionEntry(1, "ch", true, false, "wrong site"))                                                                    // 4: ignored
	add(DecisionEntry(0, "lu", true, false, "window 10:00-12:00"))                                                            // 5
	add(DecisionEntry(2, "lu", false, true, "auto-deny"))                                                                     // 6
	add(DecisionEntry(2, "lu", true, false, "too late: first decision wins"))                                                 // 7: ignored
	st := Status(ents)
	if len(st) != 3 {
		t.Fatalf("%d requests", len(st))
	}
	if st[0].Status != Approved || st[0].DecidedAt != 5 {
		t.Errorf("0: %+v", st[0])
	}
	if st[1].Status != Pending {
		t.Errorf("1 must stay pending: %+v", st[1])
	}
	if st[2].Status != Denied || !st[2].Auto || st[2].DecidedAt != 6 {
		t.Errorf("2: %+v", st[2])
	}
	for _, r := range []Request{{Site: "lu", Reason: "BECAUSE", Who: "w", What: "x"}, {Site: "lu", Reason: tlog.ReasonHomeInitiatedSupport, Who: "w", What: "x"}, {Reason: tlog.ReasonHostService}} {
		if _, err := r.Entry(); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}

// FuzzStatus: decisions of any shape never panic and only the home's
// count.
func FuzzStatus(f *testing.F) {
	f.Add("access.decision", "lu", "0", "approved", "home")
	f.Add("access.decision", "lu", "0", "approved", "host")
	f.Add("access.decision", "lu", "-1", "maybe", "home")
	f.Fuzz(func(t *testing.T, kind, site, req, decision, initiator string) {
		r, _ := Request{Site: "lu", Reason: tlog.ReasonHostService, Who: "w", What: "x"}.Entry()
		e := tlog.Entry{Kind: kind, Site: site, Details: map[string]string{DetailRequest: req, DetailDecision: decision, tlog.DetailInitiator: initiator}}
		st := Status([]tlog.Indexed{{Index: 0, Entry: r}, {Index: 1, Entry: e}})
		n, err := strconv.ParseUint(req, 10, 64)
		if st[0].Status != Pending && (initiator != "home" || site != "lu" || kind != KindDecision || err != nil || n != 0) {
			t.Fatalf("decided by %+v", e)
		}
	})
}
