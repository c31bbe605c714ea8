package cli

import (
	"github.com/spf13/cobra"
)

// cmdCompute is 'embassy compute': sovereign compute reservations
// (framework requirement 30). The check is vault.ComputeCheck.
func cmdCompute(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "compute",
		Short: "Check the agreements' compute reservations against the capacity host sites report",
	}
	var crisis bool
	check := &cobra.Command{
		Use:   "check [--crisis] [--json]",
		Short: "Compare reservations with each site's reported capacity; name shortfalls (exit 3) and preemptions",
		Long: `check challenges every site that an installed agreement reserves compute at
(compute.reservations) for its capacity report, over the site's pinned
mutual-TLS connection, and counts only what the home can trust: declared
GPUs up to the devices the driver lists and, when the site presents GPU
evidence, the devices whose evidence verifies against the fresh nonce;
declared CPU and memory up to what the daemon measured. A site that claims
more is reported as over-reporting.

Outside a crisis the reservations must fit in the trusted capacity
together. In a crisis (--crisis, or an 'embassy operate' session open in
the log) crisis-priority reservations are checked first against what the
running workloads leave, and the lower-priority workloads that must yield
are named. Declared workloads (<home>/workloads.yaml) are checked against
the policy at their sites (governing law, jurisdictions, the agreement's
residency). Every site's outcome is logged. Exit 3: a shortfall, an
over-report, a site that could not be checked or a placement the policy
forbids.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			rep, err := v.ComputeCheck(e.ctx, crisis)
			if err != nil {
				return err
			}
			if rep.Breach() {
				e.warned = true
			}
			if e.json {
				return e.emitJSON(rep)
			}
			printCompute(e, rep)
			return nil
		},
	}
	check.Flags().BoolVar(&crisis, "crisis", false, "check as in a declared crisis: crisis reservations first, preempting lower-priority workloads")
	c.AddCommand(check)
	return c
}
