package broker

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/digital-embassy/embassy/internal/metrics"
)

// brokerMetrics are the broker's Prometheus metrics (docs/METRICS.md,
// "key broker"), served at GET /metrics. No label carries a dataset or a
// workload name: those are chosen by whoever asks.
type brokerMetrics struct {
	reg      *metrics.Registry
	requests *metrics.Requests
	released *prometheus.CounterVec
	refused  *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu   sync.Mutex
	tees map[string]bool
}

// maxTEELabels bounds the evidence-type label: the TEE name comes from the
// request, so past this many distinct values the rest count as "other".
const maxTEELabels = 16

func newBrokerMetrics() *brokerMetrics {
	m := &brokerMetrics{reg: metrics.NewRegistry(), tees: map[string]bool{}}
	m.requests = metrics.NewRequests(m.reg, "embassy_broker_", "Key broker")
	m.released = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_broker_releases_total",
		Help: "Dataset keys released to attested workloads, by evidence type."}, []string{"evidence"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_broker_refusals_total",
		Help: "Key releases refused, by reason code and evidence type."}, []string{"reason", "evidence"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "embassy_broker_release_duration_seconds",
		Help:    "Time to answer a release request (evidence verified, policy asked, key wrapped, release logged), by API.",
		Buckets: metrics.LatencyBuckets}, []string{"api"})
	m.reg.MustRegister(m.released, m.refused, m.latency)
	return m
}

func (m *brokerMetrics) tee(t string) string {
	if t == "" {
		return "none"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.tees[t] {
		if len(m.tees) >= maxTEELabels {
			return "other"
		}
		m.tees[t] = true
	}
	return t
}

// Registry is the broker's metrics registry.
func (b *Broker) Registry() *metrics.Registry { return b.m.reg }

// instrument counts and times h's answers; api names a release route.
func (b *Broker) instrument(route, api string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now() //nolint:forbidigo // elapsed time of the answer, not a stamp
		rec := metrics.NewStatusRecorder(w)
		h(rec, r)
		code := rec.Code()
		d := time.Since(start)
		b.m.requests.Observe(route, "workload", code, d)
		if api != "" {
			b.m.latency.WithLabelValues(api).Observe(d.Seconds())
		}
	}
}

// MetricNames lists the broker's metrics (docs/METRICS.md is checked
// against it).
func MetricNames() []string { return newBrokerMetrics().reg.Names() }
