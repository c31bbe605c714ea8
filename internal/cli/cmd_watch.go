package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/vault"
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
		Long:  helpText("watch"),
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
				stop, err := vault.ServeWatchMetrics(metrics, exp)
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
	rep, err := vault.WatchEvents(path, e.stdin)
	if err != nil {
		return err
	}
	if rep.Bad > 0 {
		e.warnf("%d malformed event lines skipped (first: %s)", rep.Bad, rep.FirstBad)
	}
	return e.printAlerts(rep.Alerts)
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
