package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdAgreementList(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List installed agreements, their term and the sites under them",
		Long: `List the agreements installed in the home with their parties, expiry, review
date and the sites hosted under each. Expired agreements and overdue reviews
are flagged (exit code 3).`,
		Example: `  embassy agreement list
  embassy --json agreement list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			rows, flagged, err := vault.ListAgreements(h, agreement.DefaultBaseline(), e.now())
			if err != nil {
				return err
			}
			e.warned = e.warned || flagged
			if e.json {
				return e.emitJSON(rows)
			}
			if len(rows) == 0 {
				e.printf("No agreements installed. Install one with 'embassy agreement add FILE'.\n")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSENDING\tHOST\tEXPIRES\tREVIEW DUE\tSTATUS\tSITES")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Sending, r.Host, r.Term.Expires.Format(time.DateOnly),
					r.Term.ReviewDue.Format(time.DateOnly), r.Status, strings.Join(r.Sites, ","))
			}
			return tw.Flush()
		},
	}
}
