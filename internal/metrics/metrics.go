// Package metrics is what every component's Prometheus metrics share: one
// registry per server, the /metrics handler, the instrumentation of HTTP
// requests by route, role and status code, and the latency buckets.
// docs/METRICS.md lists every metric of every component.
package metrics

import (
	"net/http"
	"regexp"
	"slices"
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

// Registry is a prometheus.Registry that also keeps what was registered,
// so that the names a component declares can be listed before any of them
// has a sample (docs/METRICS.md is checked against them).
type Registry struct {
	*prometheus.Registry
	mu sync.Mutex
	cs []prometheus.Collector
}

// NewRegistry returns a registry holding the Go runtime and process
// collectors. Each server has its own, so that two servers in one process
// (tests, 'embassy serve' beside the dashboard) never share counters.
func NewRegistry() *Registry {
	reg := NewBareRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// NewBareRegistry returns a registry without the runtime collectors, for a
// component served inside another's process (a witness beside embassyd).
func NewBareRegistry() *Registry { return &Registry{Registry: prometheus.NewRegistry()} }

// Register implements prometheus.Registerer.
func (r *Registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.cs = append(r.cs, c)
	r.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var fqName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`fqName: "([^"]+)"`) })

// Names returns the sorted names of every metric registered.
func (r *Registry) Names() []string {
	r.mu.Lock()
	cs := slices.Clone(r.cs)
	r.mu.Unlock()
	return Names(cs...)
}

// Names returns the sorted metric names cs describe.
func Names(cs ...prometheus.Collector) []string {
	var names []string
	for _, c := range cs {
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqName().FindStringSubmatch(d.String()); m != nil {
				names = append(names, m[1])
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
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
