package vault

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
	"github.com/digital-embassy/embassy/internal/protect"
)

// TestProtectMetricsMove (issue 15): the metrics 'embassy protect
// --metrics' serves, scraped over HTTP from a runner protecting a real
// vault with two sites, move when a snapshot is committed: attempts,
// bytes, duration, and the lag of every site against the RPO.
func TestProtectMetricsMove(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "register row\n", "b.txt": "another row\n"})
	v := open(t, dir, o)
	ds := protect.Dataset{Name: "registry", Class: "C2-I3-A3", Source: protect.Source{Type: "dir", Path: src}, RPO: time.Hour}
	rn := &protect.Runner{Repo: v.Repo, Home: v.Home, Config: &protect.Config{Datasets: []protect.Dataset{ds}}, Take: v.Protect, Now: v.Now}
	reg := metrics.NewRegistry()
	reg.MustRegister(rn)
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()

	before := metricstest.Scrape(t, srv.Client(), srv.URL)
	if v := before.Value("embassy_protect_snapshots_total", "dataset", "registry", "result", "ok"); v != 0 {
		t.Fatalf("snapshots before any cycle: %v", v)
	}
	if errs := rn.Cycle(context.Background(), true); len(errs) > 0 {
		t.Fatal(errs)
	}
	after := metricstest.Scrape(t, srv.Client(), srv.URL)
	if v := after.Value("embassy_protect_snapshots_total", "dataset", "registry", "result", "ok"); v != 1 {
		t.Errorf("snapshots ok after a cycle: %v, want 1", v)
	}
	if v := after.Value("embassy_protect_snapshot_bytes", "dataset", "registry"); v != float64(len("register row\nanother row\n")) {
		t.Errorf("snapshot bytes: %v", v)
	}
	if v := after.Value("embassy_protect_stored_bytes_total", "dataset", "registry"); v <= 0 {
		t.Errorf("stored bytes: %v, want > 0", v)
	}
	if v := after.Value("embassy_protect_snapshot_duration_seconds", "dataset", "registry"); v < 0 {
		t.Errorf("duration missing")
	}
	if v := after.Value("embassy_rpo_seconds", "dataset", "registry"); v != 3600 {
		t.Errorf("rpo: %v, want 3600", v)
	}
	for _, site := range []string{"lu", "ch"} {
		lag := after.Value("embassy_replication_lag_seconds", "dataset", "registry", "site", site)
		if lag < 0 || lag > 3600 {
			t.Errorf("lag at %s: %v, want a fresh snapshot", site, lag)
		}
		if ex := after.Value("embassy_rpo_exceeded", "dataset", "registry", "site", site); ex != 0 {
			t.Errorf("rpo exceeded at %s: %v", site, ex)
		}
	}
	metricstest.Lint(t, reg)
}
