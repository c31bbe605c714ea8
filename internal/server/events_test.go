package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/api"
)

// Events kept in a file survive a restart of the daemon, bounded to the
// most recent max.
func TestEventsFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l := &eventLog{max: 3, path: path}
	if err := l.load(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"login", "denied", "login", "disclosure"} {
		e := Event{Kind: k, Identity: "ops", Role: "operator"}
		if k == "disclosure" {
			e.Disclosure = &api.Disclosure{Reason: "HOST_INITIATED_SERVICE", Who: "ops", What: "disk"}
		}
		l.add(e)
	}
	again := &eventLog{max: 3, path: path}
	if err := again.load(); err != nil {
		t.Fatal(err)
	}
	got := again.snapshot()
	if len(got) != 3 || got[0].Kind != "denied" || got[2].Disclosure == nil || got[2].Disclosure.What != "disk" {
		t.Fatalf("after restart: %+v", got)
	}
}

// The events file stays bounded: past maxFile it is rewritten with the
// windows only, and authenticated events survive a noise flood and a
// restart.
func TestEventsFileBoundedAndNoiseNeverEvicts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	l := newEventLog(path, 64<<10, nil)
	if err := l.load(); err != nil {
		t.Fatal(err)
	}
	l.add(Event{Kind: "login", Identity: "spiffe://h/role/operator/ops", Role: "operator"})
	for i := range 2000 {
		l.addNoise(Event{Kind: "denied", Remote: "192.0.2.1", Count: i + 1, Detail: "junk"})
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 64<<10+1024 {
		t.Fatalf("events file grew to %d bytes, bound 64 KiB", st.Size())
	}
	again := newEventLog(path, 64<<10, nil)
	if err := again.load(); err != nil {
		t.Fatal(err)
	}
	got := again.snapshot()
	if len(got) != 1+DefaultMaxNoiseEvents || got[0].Role != "operator" {
		t.Fatalf("after restart: %d events, first %+v", len(got), got[0])
	}
}

// Damaged or oversized lines in the events file are skipped, not fatal.
func TestEventsFileDamagedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	good := `{"time":"2026-01-01T00:00:00Z","kind":"login","identity":"x","role":"home","remote":""}`
	data := good + "\n{not json\n" + strings.Repeat("a", 200<<10) + "\n" + good + "\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	l := newEventLog(path, 0, nil)
	if err := l.load(); err != nil {
		t.Fatal(err)
	}
	if n := len(l.snapshot()); n != 2 {
		t.Fatalf("kept %d events, want 2", n)
	}
}
