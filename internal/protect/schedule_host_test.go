package protect_test

import (
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/protect"
)

// TestHostScheduleKeys: the host-facing jobs have their defaults (host
// and sla 5m, updates and compute 1h, location 24h), take every and off,
// and a home position or witness position that is not LAT,LON is refused
// naming the key.
func TestHostScheduleKeys(t *testing.T) {
	c, err := protect.Parse(strings.NewReader("datasets: []\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sc := c.Schedule
	if sc.Host.Every != 5*time.Minute || sc.Updates.Every != time.Hour || sc.SLA.Every != 5*time.Minute || sc.Compute.Every != time.Hour ||
		sc.Location.Every != 24*time.Hour || sc.Location.From != "" {
		t.Fatalf("defaults: %+v", sc)
	}
	c, err = protect.Parse(strings.NewReader("schedule:\n  host: {every: 1m}\n  sla: {off: true}\n  location: {from: \"59.437,24.754\", witness-at: {w: \"49.61,6.13\"}}\n"), t.TempDir())
	if err != nil || c.Schedule.Host.Every != time.Minute || !c.Schedule.SLA.Off || c.Schedule.Location.Witnesses["w"] != "49.61,6.13" {
		t.Fatalf("configured: %+v %v", c, err)
	}
	for yaml, want := range map[string]string{
		"schedule:\n  location: {from: \"tallinn\"}\n":                              "schedule.location.from",
		"schedule:\n  location: {from: \"59.4,24.7\", witness-at: {w: \"91,0\"}}\n": "schedule.location.witness-at.w",
		"schedule:\n  updates: {every: -1h}\n":                                      "schedule.updates.every",
		"schedule:\n  compute: {evry: 1h}\n":                                        "evry",
	} {
		if _, err := protect.Parse(strings.NewReader(yaml), t.TempDir()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", yaml, err, want)
		}
	}
}
