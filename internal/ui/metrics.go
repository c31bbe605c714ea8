package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/digital-embassy/embassy/internal/metrics"
)

// uiMetrics are the dashboard's Prometheus metrics (docs/METRICS.md,
// "dashboard"), at GET /metrics for the home and auditor roles.
type uiMetrics struct {
	reg      *metrics.Registry
	requests *metrics.Requests
	signins  *prometheus.CounterVec
}

func newUIMetrics(s *Server) *uiMetrics {
	m := &uiMetrics{reg: metrics.NewRegistry()}
	m.requests = metrics.NewRequests(m.reg, "embassy_ui_", "Dashboard")
	m.signins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "embassy_ui_signins_total",
		Help: "Dashboard sign-ins, by method (link, passkey) and result."}, []string{"via", "result"})
	m.reg.MustRegister(m.signins,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "embassy_ui_live_streams",
			Help: "Live-update (server-sent events) connections open."}, func() float64 { return float64(s.streams.Load()) }))
	return m
}

// Registry is the dashboard's metrics registry.
func (s *Server) Registry() *metrics.Registry { return s.metrics.reg }

// routeOf is the label of a served request: the mux pattern that matched
// (a fixed set), "static" for assets, "unknown" otherwise.
func routeOf(r *http.Request) string {
	switch p := r.Pattern; {
	case p == "GET /":
		return "static"
	case p == "":
		return "unknown"
	default:
		_, path, _ := strings.Cut(p, " ")
		return path
	}
}

// observe counts one answered request.
func (s *Server) observe(r *http.Request, code int, start time.Time) {
	role := "none"
	if p, _, ok := s.principal(r); ok {
		role = string(p.Role)
	}
	d := time.Since(start)
	if strings.HasSuffix(r.Pattern, "/api/stream") {
		d = -1 // a live stream lasts as long as the page: not a latency
	}
	s.metrics.requests.Observe(routeOf(r), role, code, d)
}

func (s *Server) metricsText(w http.ResponseWriter, r *http.Request, p Principal) error {
	if p.Role != RoleHome && p.Role != RoleAuditor {
		return forbidden("metrics are for the home and auditor roles")
	}
	metrics.Handler(s.metrics.reg).ServeHTTP(w, r)
	return nil
}

// MetricNames lists the dashboard's metrics (docs/METRICS.md is checked
// against it).
func MetricNames() []string { return newUIMetrics(&Server{}).reg.Names() }
