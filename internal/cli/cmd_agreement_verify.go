package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/hint"
)

func cmdAgreementVerify(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Check an agreement: structure, both signatures, the baseline and its term",
		Long: `Check that FILE is a well-formed agreement, signed by both parties, that it
only tightens the baseline (or loosens it under overrides signed by the
sending state), and that it is in force today. Every problem is reported
with its line and term. An overdue review is a warning (exit code 3).`,
		Example: `  embassy agreement verify examples/agreements/ee-lu.signed.yaml
  embassy --json agreement verify cloud.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			base := agreement.DefaultBaseline()
			ia, err := checkAgreement(doc, base)
			if err != nil {
				return hint.Wrap(fmt.Errorf("%s is not acceptable:\n%w", args[0], err), "fix the terms named above; after any change both parties sign again")
			}
			st := ia.StatusAt(e.now(), base)
			if err := termError(ia.Agreement, st); err != nil {
				return err
			}
			if st.ReviewOverdue {
				e.warnf("agreement %s: the hosted-dataset review was due on %s", ia.ID, st.ReviewDue.Format(time.DateOnly))
			}
			if e.json {
				return e.emitJSON(map[string]any{"id": ia.ID, "digest": ia.Digest, "valid": true, "status": st, "overrides": ia.Loosenings})
			}
			e.printf("%s: valid agreement %s between %s (sending) and %s (host)\n", args[0], ia.ID, ia.Sending().State, ia.Host().State)
			e.printf("  signed by both parties; digest %s\n", ia.Digest[:16])
			e.printf("  in force until %s; next review due %s\n", st.Expires.Format(time.DateOnly), st.ReviewDue.Format(time.DateOnly))
			for _, l := range ia.Loosenings {
				e.printf("  override: %s = %s (baseline %s): %s\n", l.Term, l.Value, l.Baseline, l.Reason)
			}
			return nil
		},
	}
}

// termError refuses an agreement that is not in force.
func termError(a *agreement.Agreement, st agreement.Status) error {
	switch {
	case st.Expired:
		return hint.Wrap(&agreement.TermError{Line: a.Line("term.expires"), Term: "term.expires",
			Msg: fmt.Sprintf("agreement %s expired on %s", a.ID, st.Expires.Format(time.DateOnly))},
			"renew it: a new term.expires signed by both parties")
	case st.NotYet:
		return hint.Wrap(&agreement.TermError{Line: a.Line("term.effective"), Term: "term.effective",
			Msg: fmt.Sprintf("agreement %s takes effect on %s", a.ID, a.Values["term.effective"].Raw)},
			"install it once it is in force")
	}
	return nil
}
