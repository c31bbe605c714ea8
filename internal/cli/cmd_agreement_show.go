package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/hint"
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
			res := agreement.Resolve(a, base)
			type row struct {
				Dimension string `json:"dimension"`
				Term      string `json:"term"`
				Value     string `json:"value"`
				Baseline  string `json:"baseline,omitempty"`
				Source    string `json:"source"`
				Line      int    `json:"line,omitempty"`
			}
			var rows []row
			for _, dim := range agreement.Dimensions {
				for _, t := range agreement.Terms {
					if r, ok := res[t.Path]; ok && t.Dimension == dim {
						rows = append(rows, row{dim, t.Path, r.Value.String(), r.Baseline.String(), string(r.Source), r.Value.Line})
					}
				}
			}
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

// readAgreementArg parses a file, or the installed agreement with that id.
func (e *env) readAgreementArg(arg string) (*agreement.Agreement, error) {
	path := arg
	if _, err := os.Stat(arg); err != nil && agreement.ValidID(arg) == nil {
		h, herr := e.openHome()
		if herr != nil {
			return nil, herr
		}
		path = filepath.Join(agreementsDir(h), arg+".yaml")
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "pass an agreement file, or the id of one listed by 'embassy agreement list'"), hint.CodeUsage)
	}
	a, err := agreement.Parse(doc)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("%s:\n%w", path, err), "fix the terms named above")
	}
	return a, nil
}
