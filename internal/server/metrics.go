package server

import (
	"log"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/proof"
)

// daemonMetrics are the daemon's Prometheus metrics (docs/METRICS.md,
// "embassyd"), on a registry of its own.
type daemonMetrics struct {
	reg        *metrics.Registry
	requests   *metrics.Requests
	handshakes *prometheus.CounterVec
	hsErrors   prometheus.Counter
	httpTLS    prometheus.Counter
	unauth     *metrics.Bounded
	rejected   *prometheus.CounterVec
	proofs     prometheus.Counter
	proofObjs  *prometheus.CounterVec
	proofSecs  prometheus.Histogram
	events     *prometheus.CounterVec
	inflight   atomic.Int64
	bytesIn    atomic.Int64
	bytesOut   atomic.Int64
}

func newMetrics() *daemonMetrics {
	m := &daemonMetrics{reg: metrics.NewRegistry()}
	m.requests = metrics.NewRequests(m.reg, "embassy_", "Daemon API")
	m.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_tls_handshakes_total",
		Help: "TLS handshakes by negotiated key exchange group."}, []string{"group"})
	m.hsErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "embassy_tls_handshake_errors_total",
		Help: "TLS handshakes that failed (bad, expired or missing client certificates)."})
	m.httpTLS = prometheus.NewCounter(prometheus.CounterOpts{Name: "embassy_http_tls_errors_total",
		Help: "TLS errors reported by net/http after the handshake."})
	m.unauth = metrics.NewBounded(m.reg, "embassy_unauthenticated_connections_total",
		"Connections that did not authenticate (failed handshakes or refused over limits), by source address.", "source", 1024)
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_rejected_total",
		Help: "Requests or connections refused by limits or identity checks."}, []string{"reason"})
	m.proofs = prometheus.NewCounter(prometheus.CounterOpts{Name: "embassy_proofs_total", Help: "Proof challenges answered."})
	m.proofObjs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_proof_objects_total",
		Help: "Objects answered in proofs, by answer kind."}, []string{"status"})
	m.proofSecs = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "embassy_proof_duration_seconds",
		Help: "Time to answer a proof challenge, from its decoding to the last listing.", Buckets: metrics.LatencyBuckets})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_events_total",
		Help: "Access events recorded for the home (sessions, denials, disclosures), by kind."}, []string{"kind"})
	m.reg.MustRegister(m.handshakes, m.hsErrors, m.httpTLS, m.rejected, m.proofs, m.proofObjs, m.proofSecs, m.events,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "embassy_received_bytes_total", Help: "Object bytes received."},
			func() float64 { return float64(m.bytesIn.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "embassy_sent_bytes_total", Help: "Response bytes sent."},
			func() float64 { return float64(m.bytesOut.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "embassy_inflight_requests", Help: "Requests being served."},
			func() float64 { return float64(m.inflight.Load()) }))
	return m
}

func (m *daemonMetrics) request(route, role string, code int, d time.Duration) {
	m.requests.Observe(route, role, code, d)
}
func (m *daemonMetrics) handshake(group string) { m.handshakes.WithLabelValues(group).Inc() }
func (m *daemonMetrics) reject(reason string)   { m.rejected.WithLabelValues(reason).Inc() }
func (m *daemonMetrics) event(kind string)      { m.events.WithLabelValues(kind).Inc() }

func (m *daemonMetrics) proof(start time.Time) {
	m.proofs.Inc()
	m.proofSecs.Observe(metrics.Since(start))
}

func (m *daemonMetrics) proofObject(s proof.Status) {
	l := map[proof.Status]string{proof.StatusTree: "tree", proof.StatusMAC: "mac", proof.StatusMissing: "missing", proof.StatusError: "error"}[s]
	m.proofObjs.WithLabelValues(l).Inc()
}

// Registry is the daemon's metrics registry, for metrics of components
// served next to it.
func (s *Server) Registry() *metrics.Registry { return s.metrics.reg }

func (s *Server) metricsText(w http.ResponseWriter, r *http.Request, c caller) error {
	metrics.Handler(s.metrics.reg).ServeHTTP(w, r)
	return nil
}

// newErrorLog routes net/http's own log lines to slog and counts failed
// TLS handshakes (wrong CA, expired or missing client certificates).
func newErrorLog(s *Server) *log.Logger {
	return log.New(errorLogWriter{s}, "", 0)
}

type errorLogWriter struct{ s *Server }

func (e errorLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if strings.Contains(line, "TLS handshake error") {
		// Counted (and aggregated per source) by the guard listener; one
		// event per junk handshake would let a flood evict real sessions.
		e.s.metrics.httpTLS.Inc()
	}
	e.s.log.Debug("http", "msg", line)
	return len(p), nil
}

// MetricNames lists the daemon's metrics (docs/METRICS.md is checked
// against it).
func MetricNames() []string { return newMetrics().reg.Names() }
