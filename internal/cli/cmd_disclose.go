package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

func reasonHelp() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(tlog.ReasonCodes)) {
		fmt.Fprintf(&b, "  %-32s %s\n", k, tlog.ReasonCodes[k])
	}
	return b.String()
}

func accessHelp() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(tlog.AccessTypes)) {
		fmt.Fprintf(&b, "  %-14s %s\n", k, tlog.AccessTypes[k])
	}
	return b.String()
}

func cmdDisclose(e *env) *cobra.Command {
	var site, reason, who, what, at, ticket, access, dataset, approval string
	c := &cobra.Command{
		Use:   "disclose --site S --reason CODE --who W --what W [--at T]",
		Short: "Record an access by host personnel in the transparency log",
		Long: `Record an access to embassy systems, keys or data by host or operator
personnel (console, support, physical entry, break-glass, legal demand) in
the transparency log, with a reason code, who, what and when. The entry is
cosigned by the witnesses before the command returns, and the home sees it
in 'embassy disclosures', which measures the delay between the access (--at)
and its disclosure (now) against the hours the site's agreement allows.

A legal demand, and a support session at a site whose agreement requires
prior approval, are decisions of the policy (disclose): without
--approved the access is still logged, and so is the denial (exit code 3).

Reason codes (modelled on Google Key Access Justifications):
` + reasonHelp() + `
Access types (--access):
` + accessHelp(),
		Example: `  embassy disclose --site lu-1 --reason HOST_INITIATED_SERVICE --access physical \
      --who "LU GITC technician #4411" --what "rack B3: replaced PSU" --at 2026-11-25T08:10:00Z --ticket CHG-2291
  embassy disclose --site lu-1 --reason THIRD_PARTY_DATA_REQUEST --access legal-demand \
      --who "LU court order 2026/77" --what "dataset population-register (ciphertext only)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			req := vault.DiscloseRequest{Site: site, Reason: reason, Who: who, What: what, Access: access, Ticket: ticket, Dataset: dataset, Approval: approval}
			if at != "" {
				if req.At, err = parseWhen(at, e.now()); err != nil {
					return err
				}
			}
			res, err := e.vaultOf(h).Disclose(e.ctx, req)
			if err != nil {
				return err
			}
			if e.json {
				out := map[string]any{"index": res.Index, "site": site, "reason": res.Entry.Reason, "at": res.At, "delay": res.Delay.Round(time.Second).String(), "delay_ns": res.Delay}
				if res.Asked {
					out["policy"] = res.Decision
				}
				return e.emitJSON(out)
			}
			e.printf("Logged disclosure %d: %s at %s (%s after the access)\n", res.Index, res.Entry.Reason, site, res.Delay.Round(time.Second))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&site, "site", "", "site that was accessed")
	f.StringVar(&reason, "reason", "", "reason code (see above)")
	f.StringVar(&who, "who", "", "who accessed: name, role or badge, and organisation")
	f.StringVar(&what, "what", "", "what was accessed or done")
	f.StringVar(&at, "at", "", "when the access happened (RFC 3339, or a duration ago such as 3h; default now)")
	f.StringVar(&ticket, "ticket", "", "operator ticket or change id, used to match key uses and sessions")
	f.StringVar(&access, "access", "console", "access type (see above)")
	f.StringVar(&dataset, "dataset", "", "dataset the access concerned, for the policy decision (default: all data at the site, as the strictest class)")
	f.StringVar(&approval, "approved", "", "reference of the sending state's prior approval (legal demands; support access where the agreement requires approval)")
	for _, n := range []string{"site", "reason", "who", "what"} {
		_ = c.MarkFlagRequired(n)
	}
	return c
}

func cmdDisclosures(e *env) *cobra.Command {
	var allowed, window time.Duration
	var site string
	c := &cobra.Command{
		Use:   "disclosures",
		Short: "List access disclosures, their delays and unlogged-access alerts",
		Long: `List every access disclosure in the transparency log with the delay between
the access and its disclosure, measured against the hours allowed (default
24 h; a site's agreement may set its own). Then cross-check key uses and
privileged sessions not initiated by the home against the disclosures: one
with no disclosure at the same site within --window of it (or with the same
ticket) raises an undisclosed-access alert once its deadline has passed.
Late disclosures and REASON_NOT_EXPECTED also raise alerts.

Exit code 3 if there is any alert.`,
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

// termSafe escapes what a terminal would interpret in text written by
// others: C0 and C1 controls, DEL, and bidirectional overrides become \xNN
// or \uNNNN; tabs too, so a table keeps its columns.
func termSafe(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case unsafeRune(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == utf8.RuneError
}
