package broker_test

import (
	"context"
	"testing"

	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
)

// TestBrokerMetricsMove scrapes a real broker (TPM simulator evidence over
// TLS): a release and a refusal move their counters, with the reason and
// evidence type, and the release latency histogram.
func TestBrokerMetricsMove(t *testing.T) {
	f := newFixture(t)
	url := f.srv.URL + "/metrics"
	before := metricstest.Scrape(t, f.srv.Client(), url)
	if _, _, err := f.client().Fetch(context.Background(), f.att, "weights"); err != nil {
		t.Fatal(err)
	}
	f.refused("nothing-here", "no-rule", "")
	after := metricstest.Scrape(t, f.srv.Client(), url)
	for _, tc := range []struct {
		name   string
		labels []string
	}{
		{"embassy_broker_releases_total", []string{"evidence", "tpm-sim"}},
		{"embassy_broker_refusals_total", []string{"reason", "no-rule", "evidence", "tpm-sim"}},
		{"embassy_broker_release_duration_seconds", []string{"api", "native"}},
	} {
		b, a := max(before.Value(tc.name, tc.labels...), 0), after.Value(tc.name, tc.labels...)
		if a-b < 1 {
			t.Errorf("%s%v went from %v to %v, want a rise", tc.name, tc.labels, b, a)
		}
	}
	metricstest.Lint(t, f.b.Registry())
}
