package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdDisclosures(e *env) *cobra.Command {
	var allowed, window time.Duration
	var site string
	c := &cobra.Command{
		Use:   "disclosures",
		Short: "List access disclosures, their delays and unlogged-access alerts",
		Long:  helpText("disclosures"),
		Example: `  embassy disclosures
  embassy disclosures --site lu-1 --allowed 12h --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			// each site's deadline is its agreement's; --allowed given overrides them all
			req := vault.DisclosuresRequest{Site: site, Fallback: allowed, Window: window}
			if cmd.Flags().Changed("allowed") {
				req.Override = allowed
			}
			vrep, err := e.vaultOf(h).Disclosures(e.ctx, req)
			if err != nil {
				return err
			}
			rep, deadline := vrep.DisclosureReport, vrep.Deadline
			if len(rep.Alerts) > 0 {
				e.warned = true
			}
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
		},
	}
	f := c.Flags()
	f.DurationVar(&allowed, "allowed", tlog.DefaultAllowed, "how long after an access its disclosure may come, for sites whose agreement sets no deadline (given: for every site)")
	f.DurationVar(&window, "window", time.Hour, "how far apart a key use and its disclosure's access time may be and still match")
	f.StringVar(&site, "site", "", "only this site")
	return c
}
