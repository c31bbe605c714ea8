package cli

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/vault"
)

// printTaken reports a snapshot the long-running protect took.
func (e *env) printTaken(t *vault.Taken) {
	e.printf("%s snapshot %s of %s (%s)\n", t.Time.Format(time.RFC3339), t.ID.Short(), t.Dataset, humanBytes(t.Stats.Bytes))
}

// serveMetrics serves protect's Prometheus metrics on addr until stop is
// called; a bad address is a usage error.
func (e *env) serveMetrics(addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("--metrics %s: %w", addr, err), hint.CodeUsage)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	e.printf("metrics at http://%s/metrics\n", ln.Addr())
	return func() { _ = srv.Close() }, nil
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
		if len(rep.Lags) > 0 { // no datasets to protect (datasets: [] in protect.yaml): no empty table
			printLags(e, rep.Lags)
		}
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
