package cli

import "github.com/spf13/cobra"

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
			return printSLAProbes(e, ps, err)
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
			m, err := e.slaMonth(month)
			if err != nil {
				return err
			}
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			rs, err := v.SLAReport(e.ctx, id, m)
			return printSLAReports(e, rs, err)
		},
	}
	report.Flags().StringVar(&month, "month", "", "the month to report, YYYY-MM")
	report.Flags().StringVar(&id, "agreement", "", "only this agreement")
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a signed SLA report against this home's log key and print it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readArgFile(args[0])
			if err != nil {
				return err
			}
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			rep, err := v.VerifySLA(b)
			return printSLAVerified(e, rep, args[0], err)
		},
	}
	c.AddCommand(probe, report, verify)
	return c
}
