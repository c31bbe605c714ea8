package witness

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/pki"
)

// witnessMetrics are the witness's Prometheus metrics (docs/METRICS.md,
// "witness"), served at GET /metrics next to /add-checkpoint.
type witnessMetrics struct {
	reg      *metrics.Registry
	requests *metrics.Requests
	cosigned prometheus.Counter
	cosign   prometheus.Histogram
	refused  *prometheus.CounterVec
}

func newWitnessMetrics() *witnessMetrics {
	m := &witnessMetrics{reg: metrics.NewBareRegistry()}
	m.requests = metrics.NewRequests(m.reg, "embassy_witness_", "Witness")
	m.cosigned = prometheus.NewCounter(prometheus.CounterOpts{Name: "embassy_witness_cosignatures_total",
		Help: "Checkpoints cosigned."})
	m.cosign = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "embassy_witness_cosign_duration_seconds",
		Help: "Time from an add-checkpoint request to its cosignature (checks, state persisted, signed).", Buckets: metrics.LatencyBuckets})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_witness_checkpoints_refused_total",
		Help: "add-checkpoint requests refused, by reason."}, []string{"reason"})
	m.reg.MustRegister(m.cosigned, m.cosign, m.refused)
	return m
}

// Registry is the witness's metrics registry.
func (w *Witness) Registry() *metrics.Registry { return w.metrics.reg }

// refusalReason names a refused add-checkpoint by its tlog-witness status.
func refusalReason(code int, stale bool) string {
	switch {
	case code == http.StatusNotFound:
		return "unknown-log"
	case code == http.StatusForbidden:
		return "bad-signature"
	case code == http.StatusConflict && stale:
		return "conflict"
	case code == http.StatusConflict:
		return "fork"
	case code == http.StatusUnprocessableEntity:
		return "bad-proof"
	case code == http.StatusRequestEntityTooLarge:
		return "too-large"
	case code == http.StatusTooManyRequests:
		return "rate-limited"
	case code >= 500:
		return "internal"
	}
	return "bad-request"
}

// instrument counts and times h's answers.
func (w *Witness) instrument(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, req *http.Request) {
		start := time.Now()
		rec := metrics.NewStatusRecorder(rw)
		h(rec, req)
		code := rec.Code()
		d := time.Since(start)
		role := "none"
		if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
			if id, err := pki.Identify(req.TLS.PeerCertificates[0]); err == nil {
				role = string(id.Role)
			}
		}
		w.metrics.requests.Observe(route, role, code, d)
		if route != "add-checkpoint" {
			return
		}
		if code == http.StatusOK {
			w.metrics.cosigned.Inc()
			w.metrics.cosign.Observe(d.Seconds())
			return
		}
		w.metrics.refused.WithLabelValues(refusalReason(code, rec.Header().Get("Content-Type") == "text/x.tlog.size")).Inc()
	}
}

// MetricNames lists the witness's metrics (docs/METRICS.md is checked
// against it).
func MetricNames() []string { return newWitnessMetrics().reg.Names() }
