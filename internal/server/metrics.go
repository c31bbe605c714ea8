package server

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/digital-embassy/embassy/internal/proof"
)

// metrics is written by hand in the Prometheus text format (0.0.4): a
// few counters do not justify a dependency.
type metrics struct {
	mu       sync.Mutex
	requests map[[3]string]uint64 // route, code, role
	counters map[[2]string]uint64 // metric, label value
	labels   map[string]int       // distinct labels per bounded metric
	inflight atomic.Int64
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
}

func newMetrics() *metrics {
	return &metrics{requests: map[[3]string]uint64{}, counters: map[[2]string]uint64{}, labels: map[string]int{}}
}

func (m *metrics) request(route, role string, code int) {
	m.mu.Lock()
	m.requests[[3]string{route, fmt.Sprint(code), role}]++
	m.mu.Unlock()
}

func (m *metrics) add(name, label string) {
	m.mu.Lock()
	m.counters[[2]string{name, label}]++
	m.mu.Unlock()
}

// addBounded is add for a label chosen by peers (a source address): past
// maxLabels distinct values the rest are counted under "other", so a
// flood from many addresses cannot grow the metrics without bound.
func (m *metrics) addBounded(name, label string, maxLabels int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{name, label}
	if _, ok := m.counters[k]; !ok {
		n := m.labels[name]
		if n >= maxLabels {
			k[1] = "other"
		} else {
			m.labels[name] = n + 1
		}
	}
	m.counters[k]++
}

func (m *metrics) handshake(group string) { m.add("embassy_tls_handshakes_total", group) }
func (m *metrics) reject(reason string)   { m.add("embassy_rejected_total", reason) }
func (m *metrics) proof()                 { m.add("embassy_proofs_total", "") }

func (m *metrics) proofObject(s proof.Status) {
	l := map[proof.Status]string{proof.StatusTree: "tree", proof.StatusMAC: "mac", proof.StatusMissing: "missing", proof.StatusError: "error"}[s]
	m.add("embassy_proof_objects_total", l)
}

var metricHelp = map[string][2]string{
	"embassy_tls_handshakes_total":              {"group", "TLS handshakes by negotiated key exchange group."},
	"embassy_tls_handshake_errors_total":        {"", "TLS handshakes that failed (bad, expired or missing client certificates)."},
	"embassy_http_tls_errors_total":             {"", "TLS errors reported by net/http after the handshake."},
	"embassy_unauthenticated_connections_total": {"source", "Connections that did not authenticate (failed handshakes or refused over limits), by source address."},
	"embassy_rejected_total":                    {"reason", "Requests or connections refused by limits or identity checks."},
	"embassy_proofs_total":                      {"", "Proof challenges answered."},
	"embassy_proof_objects_total":               {"status", "Objects answered in proofs, by answer kind."},
}

func (m *metrics) write(w io.Writer) {
	var b bytes.Buffer
	m.mu.Lock()
	b.WriteString("# HELP embassy_requests_total Requests by route, status code and client role.\n# TYPE embassy_requests_total counter\n")
	keys := make([][3]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, c [3]string) int { return strings.Compare(a[0]+a[1]+a[2], c[0]+c[1]+c[2]) })
	for _, k := range keys {
		fmt.Fprintf(&b, "embassy_requests_total{route=%q,code=%q,role=%q} %d\n", k[0], k[1], k[2], m.requests[k])
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range metricHelp {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		h := metricHelp[n]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", n, h[1], n)
		var labels []string
		for k := range m.counters {
			if k[0] == n {
				labels = append(labels, k[1])
			}
		}
		slices.Sort(labels)
		for _, l := range labels {
			if h[0] == "" {
				fmt.Fprintf(&b, "%s %d\n", n, m.counters[[2]string{n, l}])
			} else {
				fmt.Fprintf(&b, "%s{%s=%q} %d\n", n, h[0], l, m.counters[[2]string{n, l}])
			}
		}
	}
	m.mu.Unlock()
	fmt.Fprintf(&b, "# HELP embassy_received_bytes_total Object bytes received.\n# TYPE embassy_received_bytes_total counter\nembassy_received_bytes_total %d\n", m.bytesIn.Load())
	fmt.Fprintf(&b, "# HELP embassy_sent_bytes_total Response bytes sent.\n# TYPE embassy_sent_bytes_total counter\nembassy_sent_bytes_total %d\n", m.bytesOut.Load())
	fmt.Fprintf(&b, "# HELP embassy_inflight_requests Requests being served.\n# TYPE embassy_inflight_requests gauge\nembassy_inflight_requests %d\n", m.inflight.Load())
	w.Write(b.Bytes())
}

func (s *Server) metricsText(w http.ResponseWriter, r *http.Request, c caller) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w)
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
		e.s.metrics.add("embassy_http_tls_errors_total", "")
	}
	e.s.log.Debug("http", "msg", line)
	return len(p), nil
}
