package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdProtect(e *env) *cobra.Command {
	var once bool
	var metrics, config string
	c := &cobra.Command{
		Use:   "protect [--once] [--metrics ADDR]",
		Short: "Keep datasets protected continuously and alert when a site falls behind its RPO",
		Long: `Snapshot the sources configured in <home>/protect.yaml on a schedule or when
they change, measure the replication lag of every dataset at every site (the
time since the newest committed snapshot that site holds) and raise an alert
(a line on stderr and one in <home>/alerts.jsonl) when it exceeds the
dataset's RPO, and again when it recovers.

Sources: a folder; a SQLite database (copied with sqlite3's online backup
when the sqlite3 shell is installed, else copied until stable and checked);
a PostgreSQL database, streamed from pg_dump. A dump that fails (the server
went away mid-dump) is never committed: the last good snapshot stays the
latest.

  poll: 10s
  datasets:
    - name: registry
      source: {type: dir, path: /srv/registry}
      on-change: true
      rpo: 1h
    - name: land-db
      source: {type: postgres, database: land, host: 127.0.0.1, port: 5432, user: embassy, format: custom}
      every: 5m          # default: rpo/2
      rpo: 15m

Besides the snapshots, protect runs the home's scheduled jobs (one
scheduler in the service layer; state in <home>/schedule/state.json, every
result a "job" entry in the transparency log, every alert an "alert" entry
sent through the routes of <home>/watch.yaml):

  schedule:
    agreements: {every: 12h, notice-days: 60}   # alert before and at an agreement's end, overdue reviews
    inventory: {every: 6h}                      # data at a site that policy.yaml datasets: does not declare
    integrity: {every: 1h, read-data-every: 24} # verify; each site's signed state and the log root
                                                # against the home's and the outside witnesses
    config: {every: 1h}                         # log every change of embassy.yaml, policy.yaml, ...
    drills:                                     # on the agreements' operations.restore-drill-every-days
      - {plan: drill-plan.yaml, identities: [alice.key, bob.key]}
    host: {every: 5m}                           # pull access requests and incidents filed at the daemons,
                                                # alert on pending requests, escalate incidents past their hours
    updates: {every: 1h}                        # each daemon's build against the approved set ('update approve')
    sla: {every: 5m}                            # availability probes of the host sites (the monthly SLA report)
    compute: {every: 1h}                        # the agreements' compute reservations against the sites' capacity
    location: {every: 24h, from: "59.437,24.754", witness-at: {lu-witness: "49.61,6.13"}}
                                                # location evidence of every daemon site from the home's position
A job whose feature this home does not use (no daemon sites, no update
approvals, no reservations, no position) reports "not configured".

Any job takes off: true. Exit code 3 with --once while a job finds an alert
condition, new or lasting; each alert is recorded and sent only once.

--once snapshots every dataset once, runs every job, reports and exits. Otherwise
protect runs until interrupted; --metrics serves Prometheus metrics
(embassy_replication_lag_seconds{dataset,site}, embassy_rpo_exceeded, ...)
at http://ADDR/metrics.`,
		Example: `  embassy protect --once --json
  embassy protect --metrics 127.0.0.1:9464`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			cfg, err := vault.LoadProtectConfig(h, config)
			if err != nil {
				return err
			}
			v := e.vaultOf(h)
			r, err := v.OpenRepo(e.ctx, true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			hooks := vault.ProtectHooks{OnAlert: e.alert}
			if !once {
				hooks.OnTaken = e.printTaken
			}
			p, err := v.Protection(cfg, hooks)
			if err != nil {
				return err
			}
			p.OnRun = func(run vault.JobRun) { e.printJobRun(run, once) }
			if once {
				return e.protectOnce(p, r)
			}
			if metrics != "" {
				stop, err := e.serveMetrics(metrics, p.MetricsHandler())
				if err != nil {
					return err
				}
				defer stop()
			}
			return p.Run(e.ctx, cfg.Poll)
		},
	}
	c.Flags().BoolVar(&once, "once", false, "snapshot every dataset once, report lags and exit")
	c.Flags().StringVar(&metrics, "metrics", "", "serve Prometheus metrics on ADDR (host:port)")
	c.Flags().StringVar(&config, "config", "", "protection configuration (default <home>/protect.yaml)")
	return c
}
