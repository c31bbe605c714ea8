package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
)

func cmdAgreementShow(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE|ID",
		Short: "Show an agreement's effective terms and where each comes from",
		Long: `Show every term of an agreement (a file, or the id of an installed one) along
the five trust dimensions: its effective value, the baseline's value, and
whether it comes from the baseline, the agreement, or a signed override.
Signatures are not checked here; use 'agreement verify'.`,
		Example: `  embassy agreement show ee-lu
  embassy --json agreement show examples/agreements/mc-lu.signed.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.readAgreementArg(args[0])
			if err != nil {
				return err
			}
			base := agreement.DefaultBaseline()
			rows := agreement.TermRows(a, base)
			st := a.StatusAt(e.now(), base)
			resv := agreement.ReservationsOf(a, base)
			if e.json {
				return e.emitJSON(map[string]any{"id": a.ID, "title": a.Title, "digest": agreement.Digest(a),
					"sending": a.Sending().State, "host": a.Host().State, "status": st, "terms": rows, "reservations": resv})
			}
			defer func() {
				for _, r := range resv {
					e.printf("compute reservation %s\n", r)
				}
			}()
			e.printf("%s: %s\n  sending %s (%s), host %s (%s)\n\n", a.ID, a.Title, a.Sending().State, a.Sending().Name, a.Host().State, a.Host().Name)
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DIMENSION\tTERM\tVALUE\tBASELINE\tSOURCE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Dimension, r.Term, r.Value, r.Baseline, r.Source)
			}
			return tw.Flush()
		},
	}
}
