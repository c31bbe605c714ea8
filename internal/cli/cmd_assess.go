package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/hint"
)

func cmdAssess(e *env) *cobra.Command {
	var htmlOut string
	var requirements bool
	c := &cobra.Command{
		Use:   "assess [AGREEMENT]",
		Short: "Score agreements along the five trust dimensions against live evidence",
		Long: `Produce a scorecard for an agreement (an installed id or a file; default:
every installed agreement) along the five trust dimensions of the WEF/Bain
framework. Each line is checked against the signed terms or against the
running system:

  * no key material at the host: every object at the agreement's sites is
    scanned (4 KiB each) for anything that is not ciphertext, a wrapped key
    or signed public metadata;
  * residency and critical data in two jurisdictions: from the placement map
    (which sites hold which datasets), re-checked by the policy engine;
  * disclosures and incident notification: from the transparency log, or
    "no evidence yet".

A failing check gives exit code 3. --html writes a printable report.

With --requirements, list instead each of the framework's 35 requirements
(docs/FRAMEWORK.md) with its status on this home (met, partial, not
configured, violated, not implemented) and the live evidence behind it: log
entries, site scans, policy decisions, configuration. A violated
requirement gives exit code 3.`,
		Example: `  embassy assess
  embassy assess ee-lu --html ee-lu-scorecard.html
  embassy --json assess examples/agreements/noncompliant.signed.yaml
  embassy assess --requirements`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if requirements {
				if len(args) > 0 {
					return usagef("--requirements assesses the whole home: give no agreement")
				}
				return e.runRequirements(h)
			}
			v := e.vaultOf(h)
			var cards []*assess.Scorecard
			if len(args) == 1 {
				a, err := e.readAgreementArg(args[0])
				if err != nil {
					return err
				}
				sc, err := v.AssessAgreement(e.ctx, a)
				if err != nil {
					return err
				}
				cards = append(cards, sc)
			} else if cards, err = v.Assess(e.ctx); err != nil {
				return err
			}
			if len(cards) == 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("no agreement to assess"), "install one with 'embassy agreement add FILE' or pass a file"), hint.CodeUsage)
			}
			return e.printScorecards(cards, htmlOut, len(args) == 1)
		},
	}
	c.Flags().StringVar(&htmlOut, "html", "", "also write a printable HTML report to this file")
	c.Flags().BoolVar(&requirements, "requirements", false, "list the framework's 35 requirements with their status on this home and the evidence")
	return c
}
