package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdPolicyExplain(e *env) *cobra.Command {
	var label string
	var personal bool
	c := &cobra.Command{
		Use:   "explain DATASET",
		Short: "Which sites may hold DATASET, and why not the others",
		Long: `Loop every configured site through the policy engine for a write of DATASET
and print each decision with its reasons, then check that the allowed sites
can meet the class's minimum copies and jurisdictions. The label is the
dataset's latest snapshot's, or --class for a dataset not yet written.`,
		Example: `  embassy policy explain population-register
  embassy policy explain new-census --class C3-I3-A3 --personal
  embassy --json policy explain land-db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			p, err := e.vaultOf(h).Explain(e.ctx, vault.ExplainRequest{Dataset: args[0], Class: label, Personal: personal})
			if err != nil {
				return err
			}
			if len(p.Problems) > 0 || len(p.Allowed()) == 0 {
				e.warned = true
			}
			if e.json {
				return e.emitJSON(p)
			}
			cls := p.Dataset.Class
			if cls == "" {
				cls = "unlabelled"
			}
			e.printf("dataset %s (%s): %d of %d sites may hold it\n", args[0], cls, len(p.Allowed()), len(p.Sites))
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SITE\tJURISDICTION\tDISTANCE\tAGREEMENT\tDECISION\tREASONS")
			for _, s := range p.Sites {
				dist := "unknown"
				if s.Site.DistanceKm >= 0 {
					dist = fmt.Sprintf("%.0f km", s.Site.DistanceKm)
				}
				dec := "allow"
				if !s.Decision.Allow {
					dec = "deny"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Site.Name, s.Site.Jurisdiction, dist, orDash(s.Site.Agreement), dec, strings.Join(s.Decision.Reasons, "; "))
			}
			tw.Flush()
			for _, pr := range p.Problems {
				e.printf("problem: %s\n", pr)
			}
			return nil
		},
	}
	c.Flags().StringVar(&label, "class", "", "classification to explain for (default: the latest snapshot's)")
	c.Flags().BoolVar(&personal, "personal", false, "the dataset holds personal data")
	return c
}
