package cli

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/vault"
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
						return hint.WithCode(errors.New(plural(n, "new alert")), hint.CodeDamaged)
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
