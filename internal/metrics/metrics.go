// Package metrics is what every component's Prometheus metrics share: one
// registry per server, the /metrics handler, the instrumentation of HTTP
// requests by route, role and status code, and the latency buckets.
// docs/METRICS.md lists every metric of every component.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBuckets are the histogram buckets (seconds) of every latency in
// the project: a millisecond for a local request up to a minute for a
// proof of storage over a slow link.
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// NewRegistry returns a registry holding the Go runtime and process
// collectors. Each server has its own, so that two servers in one process
// (tests, 'embassy serve' beside the dashboard) never share counters.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves g in the Prometheus exposition formats. A collector that
// fails is reported in the answer; the others are still served.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Requests counts a server's HTTP requests by route, role and status code,
// and times them. Routes and roles come from the server's own fixed
// tables, never from the request, so the label sets stay bounded.
type Requests struct {
	total   *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

// NewRequests registers prefix+"requests_total" and
// prefix+"request_duration_seconds" on reg; what names the server in the
// help text.
func NewRequests(reg prometheus.Registerer, prefix, what string) *Requests {
	r := &Requests{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "requests_total",
			Help: what + " requests by route, status code and the caller's role.",
		}, []string{"route", "code", "role"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    prefix + "request_duration_seconds",
			Help:    what + " request durations by route.",
			Buckets: LatencyBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(r.total, r.seconds)
	return r
}

// Observe records one request.
func (r *Requests) Observe(route, role string, code int, d time.Duration) {
	r.total.WithLabelValues(route, strconv.Itoa(code), role).Inc()
	if d >= 0 {
		r.seconds.WithLabelValues(route).Observe(d.Seconds())
	}
}

// Count records one request without a duration.
func (r *Requests) Count(route, role string, code int) {
	r.total.WithLabelValues(route, strconv.Itoa(code), role).Inc()
}

// Bounded is a counter with one label chosen by peers (a source address):
// past Max distinct values the rest are counted under "other", so a flood
// from many addresses cannot grow the metrics without bound.
type Bounded struct {
	vec  *prometheus.CounterVec
	max  int
	seen map[string]bool
	mu   sync.Mutex
}

// NewBounded registers a counter name{label} on reg.
func NewBounded(reg prometheus.Registerer, name, help, label string, maxValues int) *Bounded {
	b := &Bounded{vec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label}),
		max: maxValues, seen: map[string]bool{}}
	reg.MustRegister(b.vec)
	return b
}

// Inc counts one for value v.
func (b *Bounded) Inc(v string) {
	b.mu.Lock()
	if !b.seen[v] {
		if len(b.seen) >= b.max {
			v = "other"
		} else {
			b.seen[v] = true
		}
	}
	b.mu.Unlock()
	b.vec.WithLabelValues(v).Inc()
}

// Since is the time elapsed since t, for a histogram observation.
func Since(t time.Time) float64 { return time.Since(t).Seconds() }
