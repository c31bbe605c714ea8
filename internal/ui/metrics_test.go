package ui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
)

// TestDashboardMetricsMove scrapes a real dashboard's /metrics as the
// home: API requests by route and role, sign-ins, and the live streams
// gauge while a stream is open. A host operator may not read them.
func TestDashboardMetricsMove(t *testing.T) {
	src := &fakeSource{}
	links := &Links{Path: filepath.Join(t.TempDir(), "links.json")}
	dash := New(Config{Source: src, Links: links})
	srv := httptest.NewServer(dash)
	defer srv.Close()
	home := signin(t, srv, links, Principal{Role: RoleHome, Name: "alice"})
	before := metricstest.Scrape(t, home.c, srv.URL+"/metrics")
	if code, _ := home.get("/api/overview"); code != 200 {
		t.Fatalf("overview: %d", code)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/stream", nil)
	resp, err := home.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if n, _ := resp.Body.Read(buf); !strings.Contains(string(buf[:n]), "event: version") {
		t.Fatalf("stream began with %q", buf[:n])
	}
	after := metricstest.Scrape(t, home.c, srv.URL+"/metrics")
	for _, tc := range []struct {
		name   string
		labels []string
		by     float64
	}{
		{"embassy_ui_requests_total", []string{"route", "/api/overview", "role", "home", "code", "200"}, 1},
		{"embassy_ui_request_duration_seconds", []string{"route", "/api/overview"}, 1},
		{"embassy_ui_live_streams", nil, 1},
	} {
		b, a := max(before.Value(tc.name, tc.labels...), 0), after.Value(tc.name, tc.labels...)
		if a-b != tc.by {
			t.Errorf("%s%v went from %v to %v, want a rise of %v", tc.name, tc.labels, b, a, tc.by)
		}
	}
	if v := after.Value("embassy_ui_signins_total", "via", "link", "result", "ok"); v < 1 {
		t.Errorf("sign-ins by link: %v, want at least 1", v)
	}
	op := signin(t, srv, links, Principal{Role: RoleOperator, Name: "bob", Site: "ch-1"})
	if code, _ := op.get("/metrics"); code != http.StatusForbidden {
		t.Errorf("host operator GET /metrics: %d, want 403", code)
	}
	metricstest.Lint(t, dash.Registry())
}
