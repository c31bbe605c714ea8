package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestAuditCheckGroupsAlerts: a witness down that was recorded line by
// line (as before episodes) and in episodes is shown as one group with its
// count and first and last times, not one line per retry (issue 11.15).
func TestAuditCheckGroupsAlerts(t *testing.T) {
	_, home, _ := setup(t)
	var b strings.Builder
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range 502 {
		l, _ := json.Marshal(tlog.WitnessAlert{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), URL: "https://lu.example:7380/add-checkpoint",
			Kind: "unreachable", Body: "connection refused"})
		fmt.Fprintf(&b, "%s\n", l)
	}
	for _, c := range []int{1, 40} { // one episode: its first line and its closing line
		l, _ := json.Marshal(tlog.WitnessAlert{Time: t0.Add(time.Hour + time.Duration(c)*time.Second), First: t0.Add(time.Hour), Count: c,
			URL: "https://lu.example:7380/add-checkpoint", Kind: "unreachable", Body: "connection refused"})
		fmt.Fprintf(&b, "%s\n", l)
	}
	os.MkdirAll(filepath.Join(home, "log"), 0o700)
	if err := os.WriteFile(filepath.Join(home, "log", tlog.AlertsFile), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, home, "", "audit", "check")
	var alertLines []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "ALERT (log)") {
			alertLines = append(alertLines, l)
		}
	}
	want := "ALERT (log) witness https://lu.example:7380/add-checkpoint unreachable 542 times (503 episodes) from 2026-11-25T10:00:00Z to 2026-11-25T11:00:40Z: connection refused"
	if r.code != ExitDamaged || len(alertLines) != 1 || alertLines[0] != want {
		t.Fatalf("exit %d, want %d and the alerts grouped as one line %q:\n%s\n%s", r.code, ExitDamaged, want, r.stdout, r.stderr)
	}
}
