package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func cmdSiteList(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the registered sites and whether they are reachable",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			rows := e.vaultOf(h).SiteStatuses(e.ctx, 0)
			for _, r := range rows {
				if !r.OK() {
					e.warned = true
				}
			}
			if e.json {
				return e.emitJSON(rows)
			}
			if len(rows) == 0 {
				e.printf("No sites yet. Add one with 'embassy site add NAME --url DIR --jurisdiction CC'.\n")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tJURISDICTION\tOPERATOR\tDISTANCE\tURL\tSTATUS")
			for _, r := range rows {
				dist := "-"
				if r.DistanceKm != nil {
					dist = fmt.Sprintf("%d km", *r.DistanceKm)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Jurisdiction, r.Operator, dist, r.URL, r.Status)
			}
			return tw.Flush()
		},
	}
}
