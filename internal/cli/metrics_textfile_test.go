package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
)

// TestCommandMetricsTextfile: with EMBASSY_METRICS_TEXTFILE_DIR, a
// snapshot and a proof of storage against a real daemon leave their
// metrics for node_exporter's textfile collector, lint-clean.
func TestCommandMetricsTextfile(t *testing.T) {
	dir, home, _ := setup(t)
	out := filepath.Join(dir, "textfile")
	os.MkdirAll(out, 0o755)
	t.Setenv(metricsTextfileEnv, out)
	mustRun(t, home, "pki", "init")
	addr := startDaemon(t, home, filepath.Join(dir, "daemon-store"))
	mustRun(t, home, "site", "add", "lu-d", "--url", "embassy://"+addr, "--jurisdiction", "LU")
	src := exitSource(t, dir)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	mustRun(t, home, "verify", "--site", "lu-d", "--proof")

	read := func(name string) metricstest.Families {
		t.Helper()
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fams := metricstest.Parse(t, f)
		metricstest.LintFamilies(t, fams)
		return fams
	}
	snap := read("embassy_snapshot_registry.prom")
	if v := snap.Value("embassy_snapshot_bytes", "dataset", "registry"); v <= 0 {
		t.Errorf("snapshot bytes %v", v)
	}
	if v := snap.Value("embassy_snapshot_stored_bytes", "dataset", "registry"); v <= 0 {
		t.Errorf("stored bytes %v", v)
	}
	if v := snap.Value("embassy_command_exit_code", "command", "snapshot"); v != 0 {
		t.Errorf("snapshot exit code %v", v)
	}
	ver := read("embassy_verify.prom")
	if v := ver.Value("embassy_proof_latency_seconds", "site", "lu-d"); v <= 0 {
		t.Errorf("proof latency %v, want > 0", v)
	}
	if v := ver.Value("embassy_command_last_run_timestamp_seconds", "command", "verify"); v <= 0 {
		t.Errorf("verify last run %v", v)
	}
}
