package vault

import (
	"path/filepath"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/home"
)

// RecentEvents returns the last n continuity events (drills, activations,
// alerts) of the home's evidence journal (EventsFile), oldest first; a
// missing or unreadable journal has none.
func RecentEvents(h *home.Home, n int) []evidence.Event {
	events, _ := evidence.ReadJournal(filepath.Join(h.Dir, EventsFile))
	if len(events) > n {
		events = events[len(events)-n:]
	}
	return events
}
