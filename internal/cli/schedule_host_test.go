package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProtectComputeJob (issue 18 #30): the compute reservations are
// checked on protect's schedule: a host declaring fewer GPUs than the
// agreement reserves is a compute-breach alert naming the site (exit 3
// with --once), raised once while the shortfall lasts.
func TestProtectComputeJob(t *testing.T) {
	_, homeDir := computeHome(t, twoReservations, "gpus: [{model: H100, count: 4}]\ncpu-cores: 1\nmemory-gib: 1\n")
	cfg := "datasets: []\nschedule:\n  host: {off: true}\n  updates: {off: true}\n  sla: {off: true}\n  location: {off: true}\n" +
		"  agreements: {off: true}\n  inventory: {off: true}\n  integrity: {off: true}\n  config: {off: true}\n"
	if err := os.WriteFile(filepath.Join(homeDir, "protect.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := lines{
		"job compute: ALERT: 1 site with reservations, 1 short; 0 workloads placed, 0 forbidden",
	}
	expectRun(t, homeDir, ExitDamaged, []string{"protect", "--once"}, out, lines{
		"embassy: alert: compute-breach: site lu-1 falls short of agreement ee-lu's compute reservations: the reserved capacity is not available ('embassy compute check' shows the detail)",
	})
	// The shortfall lasts (exit 3 again) but is not alerted twice.
	expectRun(t, homeDir, ExitDamaged, []string{"protect", "--once"}, out, nil)
}
