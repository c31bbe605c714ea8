package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

func (e *env) printDisclosures(rep tlog.DisclosureReport, deadline func(string) time.Duration) error {
	if e.json {
		if rep.Disclosures == nil {
			rep.Disclosures = []tlog.Disclosure{}
		}
		if rep.Alerts == nil {
			rep.Alerts = []tlog.Alert{}
		}
		return e.emitJSON(rep)
	}
	if e.quiet {
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tACCESS AT\tSITE\tREASON\tACCESS\tWHO\tWHAT\tDELAY\tSTATUS")
	for _, d := range rep.Disclosures {
		st := "on time"
		if d.Late {
			st = "LATE"
		}
		// Who, what and the rest were written by host personnel: escape
		// control characters so no escape sequence reaches the terminal.
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Index, d.At.Local().Format("2006-01-02 15:04"), termSafe(d.Site), termSafe(d.Reason), termSafe(d.Access), termSafe(d.Who), termSafe(d.What), d.DelayStr, st)
	}
	tw.Flush()
	if n := len(rep.Disclosures); n > 0 {
		fmt.Fprintf(e.stdout, "%d disclosures; delay p50 %s, p99 %s, max %s\n", n,
			rep.DelayP50.Round(time.Second), rep.DelayP99.Round(time.Second), rep.DelayMax.Round(time.Second))
	}
	for _, p := range rep.Pending {
		fmt.Fprintf(e.stdout, "pending: entry %d %s at %s has no disclosure yet (deadline %s)\n", p.Index, termSafe(p.Kind), termSafe(p.Site), p.Time.Add(deadline(p.Site)).Local().Format(time.RFC3339))
	}
	for _, a := range rep.Alerts {
		fmt.Fprintf(e.stdout, "ALERT %s: entry %d: %s\n", termSafe(a.Kind), a.Index, termSafe(a.Message))
	}
	return nil
}
