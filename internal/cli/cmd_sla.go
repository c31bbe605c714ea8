package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/sla"
	"github.com/digital-embassy/embassy/internal/vault"
)

// cmdSLA is 'embassy sla': the monthly SLA report against the agreements'
// terms (framework requirement 26). The work is in vault/sla.go.
func cmdSLA(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "sla",
		Short: "Probe host sites' availability and report each month against the agreements' SLA terms",
	}
	probe := &cobra.Command{
		Use:   "probe",
		Short: "Probe every host site from home now and record it (run on a schedule, e.g. every 5 minutes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			ps, err := v.SLAProbe(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				if ps == nil {
					ps = []sla.Probe{}
				}
				return e.emitJSON(ps)
			}
			for _, p := range ps {
				if p.Up {
					e.printf("%s: up\n", p.Site)
				} else {
					e.printf("%s: DOWN: %s\n", p.Site, p.Error)
				}
			}
			return nil
		},
	}
	var month, id string
	report := &cobra.Command{
		Use:   "report --month YYYY-MM [--agreement ID] [--json]",
		Short: "Make, sign and log the month's SLA report of each agreement; breaches exit 3",
		Long: `report measures the month (up to now, if it is not over) of each installed
agreement with sites against its terms: availability of each site from the
home's probes ('embassy sla probe') against sla.availability-percent, the
longest gap between snapshots reaching its sites against sla.rpo-minutes,
drills against sla.rto-minutes, incidents against
operations.incident-notification-hours and access disclosures against
operations.disclosure-delay-hours. Each report is signed with the home's
log key (a signed note, checked by 'embassy sla verify FILE' or with
log/log.pub), written to <home>/sla/ID-MONTH.note and logged. Exit 3 if
any term was breached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if month == "" {
				return usagef("give --month YYYY-MM, e.g. --month %s", e.now().AddDate(0, -1, 0).Format("2006-01"))
			}
			m, err := sla.MonthOf(month)
			if err != nil {
				return usagef("%v", err)
			}
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			rs, err := v.SLAReport(e.ctx, id, m)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if len(r.Report.Breaches) > 0 {
					e.warned = true
				}
			}
			if e.json {
				if rs == nil {
					rs = []vault.SLAResult{}
				}
				return e.emitJSON(rs)
			}
			if len(rs) == 0 {
				e.printf("no installed agreement has sites to report on\n")
			}
			for _, r := range rs {
				printSLA(e, r)
			}
			return nil
		},
	}
	report.Flags().StringVar(&month, "month", "", "the month to report, YYYY-MM")
	report.Flags().StringVar(&id, "agreement", "", "only this agreement")
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a signed SLA report against this home's log key and print it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			rep, err := v.VerifySLA(b)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(rep)
			}
			printSLA(e, vault.SLAResult{Report: rep, File: args[0]})
			return nil
		},
	}
	c.AddCommand(probe, report, verify)
	return c
}
