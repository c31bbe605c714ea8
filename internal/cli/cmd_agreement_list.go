package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
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
			base := agreement.DefaultBaseline()
			ias, err := loadAgreements(h, base)
			if err != nil {
				return err
			}
			type row struct {
				ID        string           `json:"id"`
				Sending   string           `json:"sending"`
				Host      string           `json:"host"`
				Status    string           `json:"status"`
				Term      agreement.Status `json:"term"`
				Overrides int              `json:"overrides"`
				Sites     []string         `json:"sites"`
				Digest    string           `json:"digest"`
			}
			rows := []row{}
			now := e.now()
			for _, ia := range ias {
				st := ia.StatusAt(now, base)
				r := row{ID: ia.ID, Sending: ia.Sending().State, Host: ia.Host().State, Term: st, Overrides: len(ia.Loosenings), Sites: []string{}, Digest: ia.Digest}
				var flags []string
				switch {
				case st.Expired:
					flags = append(flags, "expired")
				case st.NotYet:
					flags = append(flags, "not yet in force")
				default:
					flags = append(flags, "active")
				}
				if st.ReviewOverdue {
					flags = append(flags, "review overdue")
				}
				if st.Expired || st.ReviewOverdue {
					e.warned = true
				}
				r.Status = strings.Join(flags, ", ")
				for _, sc := range h.Config.Sites {
					if sc.Agreement == ia.ID {
						r.Sites = append(r.Sites, sc.Name)
					}
				}
				rows = append(rows, r)
			}
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
