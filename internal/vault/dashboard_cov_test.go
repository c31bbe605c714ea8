package vault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestDashboardLogReceiptContinuity: the dashboard's log is the home's
// log, a receipt is downloadable for an entry, the continuity view reads
// the journal (a drill whose report is missing or forged is shown with a
// problem, never as a verified report; crisis events as sessions), and
// the scorecards are the vault's assessment.
func TestDashboardLogReceiptContinuity(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	installAgreement(t, v, "mc-lu.signed.yaml", "mc-lu", "lu")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	d := v.Dashboard()
	ents, err := d.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap := -1
	for i, e := range ents {
		if e.Kind == tlog.KindSnapshot {
			snap = i
		}
	}
	if snap < 0 {
		t.Fatalf("no snapshot entry in the dashboard's log: %+v", ents)
	}
	rc, err := d.Receipt(ctx, ents[snap].Index)
	if err != nil || len(rc) == 0 {
		t.Fatalf("receipt of entry %d: %v", ents[snap].Index, err)
	}
	if _, err := d.Receipt(ctx, 1<<40); err == nil {
		t.Fatal("a receipt for an entry that does not exist")
	}

	c, err := d.Continuity(ctx)
	if err != nil || len(c.Drills) != 0 || c.LastReport != nil {
		t.Fatalf("continuity of a home with no journal: %+v %v", c, err)
	}
	forged := filepath.Join(dir, "forged-report.json")
	if err := os.WriteFile(forged, []byte(`{"not":"a signed document"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	j := evidence.Journal{Path: filepath.Join(v.Home.Dir, EventsFile)}
	for _, ev := range []evidence.Event{
		{Time: testNow, Type: "drill", Summary: "drill", Fields: map[string]any{"pass": true, "rto_seconds": 42.0, "failures": 0.0, "report": forged}},
		{Time: testNow, Type: "activation", Summary: "crisis operation started"},
		{Time: testNow, Type: "alert", Summary: "ignored here"},
	} {
		if err := j.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	c, err = d.Continuity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Drills) != 1 || c.Drills[0].RTOSeconds != 42 || !c.Drills[0].Pass || c.Drills[0].Plan != "" {
		t.Fatalf("drills: %+v (an unverified report's plan must not be shown)", c.Drills)
	}
	if len(c.Sessions) != 1 || c.Sessions[0].Type != "activation" {
		t.Fatalf("sessions: %+v", c.Sessions)
	}
	if c.LastReport == nil || c.LastReport.SignatureOK || c.LastReport.Problem == "" {
		t.Fatalf("a forged report was shown as verified: %+v", c.LastReport)
	}

	cards, err := v.Assess(ctx)
	if err != nil || len(cards) != 1 || !strings.Contains(cards[0].Agreement, "mc-lu") {
		t.Fatalf("assess: %v %+v", err, cards)
	}
}
