package vault

import (
	"bufio"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

// EventsReplay is the detector's verdict over an event stream.
type EventsReplay struct {
	Alerts   []watch.Alert
	Bad      int    // malformed lines skipped
	FirstBad string // why the first of them was skipped
}

// WatchEvents runs the anomaly detector over a JSON-lines event file
// ("-": stdin), plain or gzipped, and returns its alerts; it reads no home
// and changes nothing ('embassy watch --events').
func WatchEvents(path string, stdin io.Reader) (*EventsReplay, error) {
	in := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, hint.Wrap(err, "give a JSON-lines event file, or - for standard input")
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReader(in)
	var src io.Reader = br
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, hint.Wrap(err, "the events file looks gzipped but is not readable as gzip")
		}
		src = zr
	}
	d := watch.New(watch.Config{})
	out := &EventsReplay{Alerts: []watch.Alert{}}
	bad, reasons, err := watch.ReadAll(src, func(ev watch.Event) { out.Alerts = append(out.Alerts, d.Observe(ev)...) })
	if err != nil {
		return nil, err
	}
	out.Bad = bad
	if bad > 0 && len(reasons) > 0 {
		out.FirstBad = reasons[0]
	}
	return out, nil
}

// ServeWatchMetrics serves what each watch cycle measured (exp) at
// http://addr/metrics (docs/METRICS.md) until stop is called.
func ServeWatchMetrics(addr string, exp *watchman.Exporter) (stop func(), err error) {
	reg := metrics.NewBareRegistry()
	reg.MustRegister(exp)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, hint.Wrap(err, "choose a free host:port for --metrics")
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}
