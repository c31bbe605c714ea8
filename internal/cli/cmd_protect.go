package cli

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
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

Any job takes off: true. Exit code 3 with --once when a job raised an alert.

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
				hooks.OnTaken = func(t *vault.Taken) {
					e.printf("%s snapshot %s of %s (%s)\n", t.Time.Format(time.RFC3339), t.ID.Short(), t.Dataset, humanBytes(t.Stats.Bytes))
				}
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
				ln, err := net.Listen("tcp", metrics)
				if err != nil {
					return hint.WithCode(fmt.Errorf("--metrics %s: %w", metrics, err), hint.CodeUsage)
				}
				srv := &http.Server{Handler: p.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
				go func() { _ = srv.Serve(ln) }()
				defer srv.Close()
				e.printf("metrics at http://%s/metrics\n", ln.Addr())
			}
			return p.Run(e.ctx, cfg.Poll)
		},
	}
	c.Flags().BoolVar(&once, "once", false, "snapshot every dataset once, report lags and exit")
	c.Flags().StringVar(&metrics, "metrics", "", "serve Prometheus metrics on ADDR (host:port)")
	c.Flags().StringVar(&config, "config", "", "protection configuration (default <home>/protect.yaml)")
	return c
}

// alert reports an RPO alert on stderr (the vault has recorded it).
func (e *env) alert(a vault.RPOAlert) {
	lag := "no snapshot"
	if a.LagSec >= 0 {
		lag = (time.Duration(a.LagSec) * time.Second).String()
	}
	if a.State == "firing" {
		fmt.Fprintf(e.stderr, "embassy: alert: %s at site %s: lag %s exceeds RPO %s\n", a.Dataset, a.Site, lag, time.Duration(a.RPOSec)*time.Second)
	} else {
		fmt.Fprintf(e.stderr, "embassy: resolved: %s at site %s: lag %s within RPO\n", a.Dataset, a.Site, lag)
	}
}

// printJobRun shows a scheduled job's result (the protect job's own
// snapshots are shown as they are taken) and each alert it raised.
func (e *env) printJobRun(run vault.JobRun, once bool) {
	if run.Job == vault.JobProtect {
		return
	}
	if run.Err != nil {
		fmt.Fprintf(e.stderr, "embassy: alert: job %s failed: %v\n", run.Job, run.Err)
		return
	}
	if run.Report == nil {
		return
	}
	if !e.json {
		state := "ok"
		if !run.Report.OK {
			state = "ALERT"
		}
		if once {
			e.printf("job %s: %s: %s\n", run.Job, state, run.Report.Summary)
		} else {
			e.printf("%s job %s: %s: %s\n", run.Slot.Format(time.RFC3339), run.Job, state, run.Report.Summary)
		}
	}
	for _, a := range run.Report.Alerts {
		fmt.Fprintf(e.stderr, "embassy: alert: %s: %s\n", a.Kind, a.Why)
	}
}

// protectOnce runs every job once and reports.
func (e *env) protectOnce(p *vault.Protection, r *repo.Repo) error {
	rep, err := p.RunOnce(e.ctx)
	if err != nil {
		return err
	}
	e.reportSites(r)
	if e.json {
		var es []string
		for _, err := range rep.Errs {
			es = append(es, err.Error())
		}
		jobs := []map[string]any{}
		for _, o := range rep.Jobs {
			j := map[string]any{"job": o.Job, "ok": o.OK}
			if o.Report != nil {
				j["summary"], j["alerts"] = o.Report.Summary, o.Report.Alerts
			}
			if o.Err != nil {
				j["error"] = o.Err.Error()
			}
			jobs = append(jobs, j)
		}
		if err := e.emitJSON(map[string]any{"taken": rep.Taken, "lags": rep.Lags, "errors": es, "jobs": jobs}); err != nil {
			return err
		}
	} else {
		for _, t := range rep.Taken {
			e.printf("snapshot %s of %s saved (%s)\n", t.ID.Short(), t.Dataset, humanBytes(t.Stats.Bytes))
		}
		printLags(e, rep.Lags)
	}
	if rep.Err != nil {
		return rep.Err
	}
	if len(rep.Alert) > 0 {
		e.warned = true
	}
	return nil
}

func printLags(e *env, lags []vault.DatasetLag) {
	e.printf("%-24s %-12s %-20s %12s %10s  %s\n", "DATASET", "SITE", "LATEST", "LAG", "RPO", "STATE")
	for _, l := range lags {
		latest, lag := "-", "none"
		if !l.Latest.IsZero() {
			latest = l.Latest.Local().Format("2006-01-02 15:04:05")
			lag = l.Lag.Round(time.Second).String()
		}
		state := "ok"
		switch {
		case l.Error != "":
			state = "ERROR " + l.Error
		case l.Exceeded:
			state = "PAST RPO"
		case l.RPO == 0:
			state = "no rpo"
		}
		rpo := "-"
		if l.RPO > 0 {
			rpo = l.RPO.String()
		}
		e.printf("%-24s %-12s %-20s %12s %10s  %s\n", l.Dataset, l.Site, latest, lag, rpo, state)
	}
}

func cmdStatus(e *env) *cobra.Command {
	var config string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show replication lag per dataset and site against each RPO, and recent continuity events",
		Long: `Show, for every protected dataset (from <home>/protect.yaml, or every dataset
of the vault if there is none) and every site, the newest committed snapshot
the site holds, the replication lag and the RPO; each site's lag in objects
and bytes (what another site holds and it lacks; 'embassy site sync' catches
up); then the last continuity events (drills, activations, alerts) from
<home>/events.jsonl.
Exit code 3 when a dataset is past its RPO at some site.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			st, err := e.vaultOf(h).Status(e.ctx, config, 10)
			if err != nil {
				return err
			}
			lags, past, siteLag, events := st.Lags, st.PastRPO, st.SiteLag, st.Events
			if past > 0 {
				e.warned = true
			}
			e.reportSites(r)
			if e.json {
				return e.emitJSON(map[string]any{"home": h.Config.Home, "time": st.Time, "lags": lags, "past_rpo": past, "site_lag": siteLag, "events": events})
			}
			printLags(e, lags)
			if len(siteLag) > 0 {
				e.printf("\n%-24s %16s %14s\n", "SITE", "MISSING OBJECTS", "MISSING BYTES")
				for _, l := range siteLag {
					e.printf("%-24s %16d %14s\n", l.Site, l.Objects, humanBytes(l.Bytes))
				}
			}
			if len(events) > 0 {
				e.printf("\nrecent events:\n")
				for _, ev := range events {
					e.printf("  %s  %-12s %s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Type, ev.Summary)
				}
			}
			if past > 0 {
				fmt.Fprintf(e.stderr, "embassy: warning: %d dataset/site pairs are past their RPO\n", past)
			}
			return nil
		},
	}
	c.Flags().StringVar(&config, "config", "", "protection configuration (default <home>/protect.yaml)")
	return c
}
