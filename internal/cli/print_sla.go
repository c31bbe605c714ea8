package cli

import (
	"time"

	"github.com/digital-embassy/embassy/internal/vault"
)

func printSLA(e *env, r vault.SLAResult) {
	rep := r.Report
	e.printf("agreement %s, %s (%s to %s): %s; signed report %s\n", rep.Agreement, rep.Month,
		rep.From.Format(time.DateOnly), rep.To.Format(time.RFC3339), plural(len(rep.Breaches), "breach"), r.File)
	for _, a := range rep.Availability {
		if a.Percent < 0 {
			e.printf("  %s: availability not measured\n", a.Site)
			continue
		}
		e.printf("  %s: available %.3f%% (agreed %g%%), %s, %s\n", a.Site, a.Percent, rep.Terms.AvailabilityPercent, plural(a.Probes, "probe"), plural(len(a.Outages), "outage"))
		for _, o := range a.Outages {
			e.printf("    outage %s to %s: %s\n", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339), o.Error)
		}
	}
	e.printf("  %s against the recovery point, %s, %s, %s\n", plural(len(rep.RPO), "dataset"), plural(len(rep.Drills), "drill"), plural(rep.Incidents, "incident"), plural(rep.Disclosures, "disclosure"))
	for _, b := range rep.Breaches {
		e.printf("  BREACH: %s\n", b)
	}
}
