package source

import (
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

// TestFromEntryKeyUse: a host's key use feeds the detector; the home's
// own unwraps (logged for every command that opens keys) do not, or the
// detector would learn the operator's habits instead of the host's.
func TestFromEntryKeyUse(t *testing.T) {
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	host := tlog.Entry{Kind: tlog.KindKeyUnwrap, Time: at, Site: "lu", Dataset: "d1", Details: map[string]string{tlog.DetailInitiator: "host"}}
	if evs := FromEntry(host); len(evs) != 1 || evs[0].Kind != watch.KindKeyUse || evs[0].Site != "lu" {
		t.Fatalf("host unwrap: %+v", evs)
	}
	unsaid := host
	unsaid.Details = nil // no initiator: counted as the host's
	if evs := FromEntry(unsaid); len(evs) != 1 {
		t.Fatalf("unwrap with no initiator: %+v", evs)
	}
	home := host
	home.Details = map[string]string{tlog.DetailInitiator: "home", "purpose": "restore"}
	if evs := FromEntry(home); len(evs) != 0 {
		t.Fatalf("the home's own unwrap became an event: %+v", evs)
	}
}
