package operate

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
	"github.com/digital-embassy/embassy/internal/registry"
)

// TestOperateMetricsMove: the crisis registry's /metrics needs a valid
// token, and its counters move with what happens: a lookup, a refused
// token, a lookup token trying to deactivate, a deactivation. The names
// pass promlint.
func TestOperateMetricsMove(t *testing.T) {
	root, _ := keys.NewRoot(1)
	now := time.Now()
	lookup, _, _ := Issue(root, "h1", "registrar", time.Hour, now)
	stop, _, _ := IssueRole(root, "h1", "duty", RoleDeactivate, time.Hour, now)
	dir := t.TempDir()
	srv := &Server{Service: &registry.Service{}, AuditPath: filepath.Join(dir, "audit.jsonl"), AuditKey: []byte("k"), Session: "s",
		Verify:  func(s string) (*Token, error) { return Verify(s, "h1", keyOf(root), time.Now()) },
		Revoked: &Revoked{Path: filepath.Join(dir, "revoked.json"), Home: "h1", SignKey: keyOf(root)}}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	do := func(method, path, tok string) *http.Response {
		req, _ := http.NewRequest(method, hs.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := do("GET", "/metrics", ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %d", r.StatusCode)
	}
	do("GET", "/v1/land/1", lookup).Body.Close()
	do("GET", "/v1/land/1", "forged").Body.Close()
	do("POST", "/deactivate", lookup).Body.Close()
	do("POST", "/deactivate", stop).Body.Close()

	resp := do("GET", "/metrics", lookup)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics with a token: %d", resp.StatusCode)
	}
	m := metricstest.Parse(t, resp.Body)
	metricstest.LintFamilies(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"embassy_operate_lookups_total", []string{"action", "land"}, 1},
		{"embassy_operate_refusals_total", []string{"reason", "token"}, 2}, // the forged token and /metrics without one
		{"embassy_operate_refusals_total", []string{"reason", "role"}, 1},
		{"embassy_operate_deactivations_total", []string{"by", "token"}, 1},
		{"embassy_operate_requests_total", []string{"route", "deactivate", "code", "403"}, 1},
	} {
		if got := m.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
