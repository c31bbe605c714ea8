package server

import (
	"path/filepath"
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
