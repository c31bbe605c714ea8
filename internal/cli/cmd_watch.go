package cli

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

func cmdWatch(e *env) *cobra.Command {
	var once bool
	var interval time.Duration
	var events, metrics string
	c := &cobra.Command{
		Use:   "watch",
		Short: "Watch the host: anomaly detection and notifications",
		Long: `Watch what the home sees of its host sites and notify people when something
departs from normal.

Each cycle replays the transparency log through an anomaly detector that
learns, per site and per dataset, the normal pattern of host sessions, key
uses, dataset reads, restores, proof-of-storage latency and witness
cosigning delay (hour of day, weekday, volumes, who acts), and flags:

  offhours-session-unwraps  an unusual-hour or unknown operator session at a
                            site, followed by a burst of key uses there
  key-use-burst             key uses far above the learned rate
  read-surge                a dataset read far more than usual
  proof-latency-shift       a site's proofs now take much longer (data moved?)
  witness-drift             a witness's cosigning delay drifted
  unusual-restore-site      a dataset restored from a site that never serves it

It also forwards the conditions other commands raise: replication lag past
a dataset's RPO (protect), host sessions and key uses without a disclosure,
overdue disclosures, unexpected reason codes, and witness refusals.

Every alert says why, with the baseline and the observed value. New alerts
are printed, recorded in the transparency log (kind "alert"), and sent to
the webhooks (JSON, HMAC-signed in the X-Embassy-Signature header) and
e-mail addresses of <home>/watch.yaml, deduplicated, grouped and held in
quiet periods. <home>/watch/state.json remembers what was already sent.

With --events FILE (JSON lines, optionally gzipped; - for stdin) it runs the detector over an
event stream instead, prints the alerts and changes nothing.

With --metrics ADDR it serves what each cycle measured as Prometheus metrics
at http://ADDR/metrics (docs/METRICS.md), for the alert rules shipped in
deploy/prometheus/embassy-rules.yml.

Exit codes: 0 no new alert, 3 new alerts (with --once), 1 error.`,
		Example: `  embassy watch --once
  embassy watch --interval 1m
  embassy watch --events trace.jsonl --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if events != "" {
				return e.watchEvents(events)
			}
			exp := watchman.NewExporter()
			if metrics != "" {
				stop, err := serveMetrics(metrics, exp)
				if err != nil {
					return err
				}
				defer stop()
			}
			for {
				n, err := e.watchCycle(exp)
				if err != nil {
					return err
				}
				if once {
					if n > 0 {
						return hint.WithCode(fmt.Errorf("%d new alert(s)", n), hint.CodeDamaged)
					}
					return nil
				}
				select {
				case <-e.ctx.Done():
					return e.ctx.Err()
				case <-time.After(interval):
				}
			}
		},
	}
	c.Flags().BoolVar(&once, "once", false, "run one cycle and exit (3 when there are new alerts)")
	c.Flags().DurationVar(&interval, "interval", time.Minute, "time between cycles")
	c.Flags().StringVar(&metrics, "metrics", "", "serve Prometheus metrics on this address (host:port)")
	c.Flags().StringVar(&events, "events", "", "run the detector over a JSON-lines event file (- for stdin) instead of the home")
	return c
}

func (e *env) watchEvents(path string) error {
	in := os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return hint.Wrap(err, "give a JSON-lines event file, or - for standard input")
		}
		defer f.Close()
		in = f
	}
	var src io.Reader = bufio.NewReader(in)
	if b, _ := src.(*bufio.Reader).Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return hint.Wrap(err, "the events file looks gzipped but is not readable as gzip")
		}
		src = zr
	}
	d := watch.New(watch.Config{})
	var alerts []watch.Alert
	bad, reasons, err := watch.ReadAll(src, func(ev watch.Event) { alerts = append(alerts, d.Observe(ev)...) })
	if err != nil {
		return err
	}
	if bad > 0 {
		e.warnf("%d malformed event lines skipped (first: %s)", bad, reasons[0])
	}
	return e.printAlerts(alerts)
}

func (e *env) printAlerts(alerts []watch.Alert) error {
	if e.json {
		if alerts == nil {
			alerts = []watch.Alert{}
		}
		return e.emitJSON(alerts)
	}
	if len(alerts) == 0 {
		e.printf("no alerts\n")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tSITE\tDATASET\tWHY")
	for _, a := range alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Time.UTC().Format("2006-01-02 15:04"), a.Kind, dash(a.Site), dash(a.Dataset), watch.Clean(a.Why))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return watch.Clean(s)
}

// watchCycle runs one cycle over the home (vault.Watch) and returns the
// number of new alerts.
func (e *env) watchCycle(exp *watchman.Exporter) (int, error) {
	h, err := e.openHome()
	if err != nil {
		return 0, err
	}
	c, err := e.vaultOf(h).Watch(e.ctx)
	if err != nil {
		return 0, err
	}
	if c.NotifyErr != nil {
		e.warnf("notification failed: %v", c.NotifyErr)
	}
	exp.Update(c.Metrics)
	return len(c.Alerts), e.printAlerts(c.Alerts)
}

// serveMetrics serves the exporter's metrics until stop is called.
func serveMetrics(addr string, exp *watchman.Exporter) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, hint.Wrap(err, "choose a free host:port for --metrics")
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}
