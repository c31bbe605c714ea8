package tlog

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadAlerts: any alerts file (lines with bodies a witness wrote)
// reads and groups without panicking, and grouping never loses a count.
func FuzzReadAlerts(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-25T10:00:00Z","url":"https://w/add-checkpoint","status":0,"kind":"unreachable","body":"refused"}` + "\n"))
	f.Add([]byte(`{"time":"2026-11-25T10:00:01Z","first":"2026-11-25T10:00:00Z","count":7,"url":"https://w/add-checkpoint?x","status":409,"kind":"conflict"}` + "\n{}\n\n{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), AlertsFile)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		as, err := ReadAlerts(p)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, a := range as {
			total += max(a.Count, 1)
		}
		sum := 0
		for _, g := range GroupAlerts(as) {
			sum += g.Count
		}
		if sum != total {
			t.Fatalf("grouping changed the count: %d of %d", sum, total)
		}
	})
}
