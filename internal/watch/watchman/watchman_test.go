package watchman

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestCycleForwardsEachConditionOnce(t *testing.T) {
	dir := t.TempDir()
	pa := filepath.Join(dir, "alerts.jsonl")
	if err := os.WriteFile(pa, []byte(`{"time":"2026-06-01T11:00:00Z","state":"firing","dataset":"pop","site":"lu-1","lag_seconds":-1,"rpo_seconds":900}
{"time":"2026-06-01T11:05:00Z","state":"resolved","dataset":"pop","site":"lu-1"}
garbage
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ents := []tlog.Indexed{
		{Index: 0, Entry: tlog.Entry{Kind: tlog.KindSession, Site: "ch-1", Time: now.Add(-48 * time.Hour)}},
		{Index: 1, Entry: tlog.Entry{Kind: tlog.KindKeyUse, Site: "ch-1", Time: now.Add(-47 * time.Hour)}},
		{Index: 2, Entry: tlog.Entry{Kind: tlog.KindVerify, Site: "lu-1", Time: now.Add(-2 * time.Hour), Details: map[string]string{"proof": "true", "damage": "2"}}},
	}
	in := Input{Entries: ents, ProtectAlerts: pa, Now: now,
		Disclosures: []tlog.Alert{{Kind: "undisclosed-access", Index: 0, Site: "ch-1", Time: now.Add(-48 * time.Hour), Message: "session\x1b[31m"},
			{Kind: "undisclosed-access", Index: 1, Site: "ch-1"}},
		WitnessAlerts: []witnessAlert{WitnessAlert(now.Add(-time.Minute), "unreachable", "https://w.example")},
		Agreements:    map[string]time.Time{"ee-lu": now.Add(20 * 24 * time.Hour), "ee-ch": now.Add(400 * 24 * time.Hour)},
	}
	fresh, st, err := Cycle(in, State{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, a := range fresh {
		kinds[a.Kind]++
		if strings.ContainsRune(a.Why, 0x1b) {
			t.Fatalf("escape sequence reached an alert: %q", a.Why)
		}
	}
	want := map[string]int{CondLagPastRPO: 1, CondUnmatchedSession: 1, CondUndisclosedKeyUse: 1, CondWitness: 1, CondAgreementExpiry: 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s: %d alerts, want %d (all: %v)", k, kinds[k], n, kinds)
		}
	}
	if st.LogSize != 3 || st.AlertLines != 3 {
		t.Fatalf("state %+v", st)
	}
	// The same input again: nothing new.
	again, _, err := Cycle(in, st)
	if err != nil || len(again) != 0 {
		t.Fatalf("second cycle: %v %+v", err, again)
	}
	// Metrics of the cycle.
	x := NewExporter()
	x.Update(Measure(in, fresh, now))
	reg := prometheus.NewRegistry()
	reg.MustRegister(x)
	if n, err := testutil.GatherAndCount(reg, "embassy_disclosure_alerts"); err != nil || n != 2 {
		t.Fatalf("embassy_disclosure_alerts series: %d %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`# HELP embassy_proof_failures_total Proofs of storage that found damage, by site.
# TYPE embassy_proof_failures_total counter
embassy_proof_failures_total{site="lu-1"} 1
`), "embassy_proof_failures_total"); err != nil {
		t.Fatal(err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Fatalf("metric names break Prometheus conventions: %v %v", probs, err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "watch", "state.json")
	st := State{LogSize: 7, Disclosure: []string{"a|1"}, Updated: now}
	if err := SaveState(p, st); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(p)
	if err != nil || got.LogSize != 7 || len(got.Disclosure) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	if err := os.WriteFile(p, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(p); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("a corrupt state: %v", err)
	}
}

func TestEntryIsValidForTheLog(t *testing.T) {
	e := Entry(watch.Alert{Time: now, Kind: watch.AnomalyReadSurge, Dataset: "pop", Why: strings.Repeat("x", 3000), Baseline: 1.5, Observed: 40, Unit: "events"}, now)
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
}
