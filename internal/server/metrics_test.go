package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// TestMetricsMove scrapes a real daemon's /metrics over mutual TLS and
// checks that each metric moves when its event happens: a request, a
// refused handshake, an access event, a proof of storage.
func TestMetricsMove(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), nil)
	home := env.Client(t, pki.RoleHome, "home")
	opPair := env.Issue(t, pki.Request{Role: pki.RoleOperator, Name: "ops"})
	op := httpClient(env.TLS(&opPair))
	url := "https://" + env.Addr + "/metrics"
	before := metricstest.Scrape(t, op, url)

	h := site.Handle{Kind: site.KindIndex, Name: "obj"}
	if err := home.Put(t.Context(), h, site.Bytes("payload"), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := home.Prove(t.Context(), proof.NewChallenge([]site.Handle{h}, 0, 1, site.KindIndex)); err != nil {
		t.Fatal(err)
	}
	if resp, err := httpClient(env.TLS(nil)).Get("https://" + env.Addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a client without a certificate was served")
	}
	req, _ := http.NewRequest("GET", "https://"+env.Addr+"/v1/list/index", nil)
	if resp, err := op.Do(req); err == nil {
		resp.Body.Close() // denied: an access event
	}
	// The guard counts a refused handshake when the server side of it
	// ends, which may be after the client has seen the refusal: wait for it.
	after := metricstest.Scrape(t, op, url)
	for deadline := time.Now().Add(10 * time.Second); after.Value("embassy_tls_handshake_errors_total") <= max(before.Value("embassy_tls_handshake_errors_total"), 0); {
		if time.Now().After(deadline) {
			t.Fatal("the refused handshake was never counted")
		}
		time.Sleep(10 * time.Millisecond)
		after = metricstest.Scrape(t, op, url)
	}

	for _, tc := range []struct {
		name   string
		labels []string
		by     float64
	}{
		{"embassy_requests_total", []string{"route", "put", "code", "201", "role", "home"}, 1},
		{"embassy_request_duration_seconds", []string{"route", "prove"}, 1},
		{"embassy_proofs_total", nil, 1},
		{"embassy_proof_duration_seconds", nil, 1},
		{"embassy_proof_objects_total", nil, 1},
		{"embassy_received_bytes_total", nil, 7},
		{"embassy_tls_handshake_errors_total", nil, 1},
		{"embassy_events_total", []string{"kind", "denied"}, 1},
	} {
		b, a := max(before.Value(tc.name, tc.labels...), 0), after.Value(tc.name, tc.labels...)
		if a-b < tc.by {
			t.Errorf("%s%v went from %v to %v, want a rise of at least %v", tc.name, tc.labels, b, a, tc.by)
		}
	}
}

// TestMetricsLint runs client_golang's promlint over the daemon's metrics
// once every metric has a sample.
func TestMetricsLint(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), &server.Config{})
	home := env.Client(t, pki.RoleHome, "home")
	if err := home.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	metricstest.Lint(t, env.Server.Registry())
}
