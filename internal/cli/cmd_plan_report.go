package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdPlanReport(e *env) *cobra.Command {
	var req vault.PlanReportRequest
	c := &cobra.Command{
		Use:   "report SCENARIO",
		Short: "Score, place, simulate and report (text, --json or --html FILE)",
		Example: `  embassy plan report examples/scenarios/baltic.yaml
  embassy plan report examples/scenarios/pacific.yaml --html pacific.html
  embassy plan report examples/scenarios/gulf.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Path, req.Stdin = args[0], e.stdin
			r, err := vault.PlanReport(req)
			if r == nil {
				return err
			}
			switch {
			case e.json:
				if jerr := e.emitJSON(r); jerr != nil {
					return jerr
				}
			case !e.quiet:
				r.WriteText(e.stdout)
				if req.HTML != "" {
					fmt.Fprintf(e.stdout, "\nWrote %s\n", req.HTML)
				}
			}
			return err // no feasible placement: the report, then exit 3
		},
	}
	c.Flags().StringVar(&req.HTML, "html", "", "also write a printable HTML report with charts to FILE")
	c.Flags().IntVar(&req.Trials, "trials", 0, "simulation trials (default: the scenario's, or 100000)")
	c.Flags().BoolVar(&req.NoFrontier, "no-frontier", false, "skip the cost-resilience frontier (faster)")
	return c
}
