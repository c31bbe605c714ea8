package operate

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/digital-embassy/embassy/internal/metrics"
)

// operateMetrics are the crisis registry's Prometheus metrics
// (docs/METRICS.md, "operate"), served at GET /metrics to any holder of a
// valid, unrevoked official token.
type operateMetrics struct {
	reg           *metrics.Registry
	requests      *metrics.Requests
	lookups       *prometheus.CounterVec
	refused       *prometheus.CounterVec
	deactivations *prometheus.CounterVec
}

func newOperateMetrics() *operateMetrics {
	m := &operateMetrics{reg: metrics.NewBareRegistry()}
	m.requests = metrics.NewRequests(m.reg, "embassy_operate_", "Crisis registry")
	m.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_operate_lookups_total",
		Help: "Registry lookups answered, by action (population, land) and status."}, []string{"action", "code"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_operate_refusals_total",
		Help: "Requests refused before any answer, by reason (token, role, quorum)."}, []string{"reason"})
	m.deactivations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_operate_deactivations_total",
		Help: "Accepted deactivations of the session, by who (token, quorum)."}, []string{"by"})
	m.reg.MustRegister(m.lookups, m.refused, m.deactivations)
	return m
}

// MetricNames lists the crisis registry's metrics (docs/METRICS.md is
// checked against it).
func MetricNames() []string { return newOperateMetrics().reg.Names() }

// Registry is the server's metrics registry.
func (s *Server) Registry() *metrics.Registry {
	s.init()
	return s.metrics.reg
}

// metricsHandler serves GET /metrics to a valid, unrevoked token of any
// role; counts only, never a looked-up key or an official's name.
func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	tok, err := s.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if err == nil {
		err = s.Revoked.Check(tok.ID)
	}
	if err != nil {
		s.metrics.refused.WithLabelValues("token").Inc()
		s.metrics.requests.Count("metrics", "none", http.StatusUnauthorized)
		http.Error(w, "a valid official token is required", http.StatusUnauthorized)
		return
	}
	s.metrics.requests.Count("metrics", tok.RoleOf(), http.StatusOK)
	metrics.Handler(s.metrics.reg).ServeHTTP(w, r)
}
