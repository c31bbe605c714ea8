package main

import (
	"bufio"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
)

// TestProtectAndDashboardMetricsFromTheBinary scrapes the real binary:
// 'embassy protect --metrics' reports the snapshot it committed and the
// lag of each site, and 'embassy ui' serves its metrics to a signed-in
// auditor only. Both pass client_golang's linter.
func TestProtectAndDashboardMetricsFromTheBinary(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "38501012231,Mari,Tamm\n")
	os.WriteFile(filepath.Join(f.home, "protect.yaml"), []byte("datasets:\n  - name: registry\n    source: {type: dir, path: "+src+"}\n    rpo: 1h\n    every: 1h\n    class: C1-I1-A1\n"), 0o644)
	c := f.cmd("protect", "--metrics", "127.0.0.1:0")
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	url := ""
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if _, u, ok := strings.Cut(sc.Text(), "metrics at "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("embassy protect did not print its metrics address")
	}
	var m metricstest.Families
	for deadline := time.Now().Add(60 * time.Second); ; {
		m = metricstest.Scrape(t, http.DefaultClient, url)
		if m.Value("embassy_protect_snapshots_total", "dataset", "registry", "result", "ok") >= 1 && m.Value("embassy_replication_lag_seconds", "site", "b") >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no committed snapshot and lag within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := m.Value("embassy_protect_snapshot_bytes", "dataset", "registry"); v < float64(len("38501012231,Mari,Tamm\n")) {
		t.Errorf("snapshot bytes %v", v)
	}
	for _, s := range []string{"a", "b"} {
		if lag := m.Value("embassy_replication_lag_seconds", "dataset", "registry", "site", s); lag < 0 || lag > 3600 {
			t.Errorf("lag at %s: %v", s, lag)
		}
	}
	if m.Value("go_goroutines") < 1 {
		t.Error("no Go runtime metrics")
	}
	metricstest.LintFamilies(t, m)
	_ = c.Process.Kill()
	_ = c.Wait()

	addr := startUI(t, f)
	if resp, err := http.Get("http://" + addr + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dashboard metrics without sign-in: %v %v", resp.Status, err)
	}
	link := strings.TrimSpace(f.run("ui", "link", "--role", "auditor", "--name", "scraper", "--addr", addr))
	_, tok, _ := strings.Cut(link, "#signin=")
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/signin", strings.NewReader(`{"token":"`+tok+`"}`))
	req.Header.Set("Origin", "http://"+addr)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign-in: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	if resp, err := hc.Get("http://" + addr + "/api/overview"); err == nil {
		resp.Body.Close()
	}
	ui := metricstest.Scrape(t, hc, "http://"+addr+"/metrics")
	if v := ui.Value("embassy_ui_requests_total", "route", "/api/overview", "role", "auditor", "code", "200"); v != 1 {
		t.Errorf("overview requests by the auditor: %v, want 1", v)
	}
	if v := ui.Value("embassy_ui_signins_total", "via", "link", "result", "ok"); v != 1 {
		t.Errorf("link sign-ins: %v, want 1", v)
	}
	metricstest.LintFamilies(t, ui)
}
