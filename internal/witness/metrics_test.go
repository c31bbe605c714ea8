package witness

import (
	"net/http/httptest"
	"testing"

	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
)

// TestWitnessMetricsMove scrapes a real witness's /metrics: a cosignature
// moves the count and the latency histogram, a stale request and a
// malformed one move the refusals with their reasons.
func TestWitnessMetricsMove(t *testing.T) {
	l := newFakeLog(t)
	w, _, _ := newTestWitness(t, l, Ed25519)
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	before := metricstest.Scrape(t, srv.Client(), srv.URL+"/metrics")
	l.add(5, "a")
	if code, _, body := post(t, srv, l.request(t, 0, 5)); code != 200 {
		t.Fatalf("first checkpoint: %d %s", code, body)
	}
	l.add(3, "a")
	if code, _, _ := post(t, srv, l.request(t, 0, 8)); code != 409 {
		t.Fatalf("stale: got %d, want 409", code)
	}
	if code, _, _ := post(t, srv, []byte("not a request")); code != 400 {
		t.Fatalf("garbage: got %d, want 400", code)
	}
	after := metricstest.Scrape(t, srv.Client(), srv.URL+"/metrics")
	for _, tc := range []struct {
		name   string
		labels []string
	}{
		{"embassy_witness_cosignatures_total", nil},
		{"embassy_witness_cosign_duration_seconds", nil},
		{"embassy_witness_checkpoints_refused_total", []string{"reason", "conflict"}},
		{"embassy_witness_checkpoints_refused_total", []string{"reason", "bad-request"}},
		{"embassy_witness_requests_total", []string{"route", "add-checkpoint", "code", "200"}},
	} {
		b, a := max(before.Value(tc.name, tc.labels...), 0), after.Value(tc.name, tc.labels...)
		if a-b != 1 {
			t.Errorf("%s%v went from %v to %v, want a rise of 1", tc.name, tc.labels, b, a)
		}
	}
	metricstest.Lint(t, w.Registry())
}
