package cli

import (
	"os"
	"path/filepath"
	"strings"
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
	r := run(t, homeDir, "", "protect", "--once")
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "compute-breach: site lu-1 falls short of agreement ee-lu's compute reservations") {
		t.Fatalf("protect --once with a compute shortfall: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, homeDir, "", "protect", "--once"); strings.Contains(r.stderr, "compute-breach") {
		t.Fatalf("the same shortfall alerted twice:\n%s", r.stderr)
	}
}
