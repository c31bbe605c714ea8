package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/policy"
)

func cmdAgreementAdd(e *env) *cobra.Command {
	var replace bool
	c := &cobra.Command{
		Use:   "add FILE",
		Short: "Install a verified agreement in the home",
		Long: `Verify FILE like 'agreement verify' and install it in the home
(<home>/agreements/ID.yaml), where the policy engine reads it. Sites name
the agreement they are hosted under with 'site add ... --agreement ID'.
Installing, replacing and every accepted override are recorded in the
transparency log.`,
		Example: `  embassy agreement add ee-lu.yaml
  embassy agreement add ee-lu-renewed.yaml --replace`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			base := agreement.DefaultBaseline()
			ia, err := checkAgreement(doc, base)
			if err != nil {
				return hint.Wrap(fmt.Errorf("%s is not acceptable:\n%w", args[0], err), "fix the terms named above; after any change both parties sign again")
			}
			now := e.now()
			if err := termError(ia.Agreement, ia.StatusAt(now, base)); err != nil {
				return err
			}
			dst := filepath.Join(agreementsDir(h), ia.ID+".yaml")
			kind := "agreement-installed"
			if _, err := os.Stat(dst); err == nil {
				if !replace {
					return hint.WithCode(hint.Wrap(fmt.Errorf("agreement %s is already installed", ia.ID), "pass --replace to install a renewed or amended text"), hint.CodeUsage)
				}
				kind = "agreement-replaced"
			}
			if err := os.MkdirAll(agreementsDir(h), 0o700); err != nil {
				return err
			}
			if err := atomicfile.Write(dst, doc, 0o600); err != nil {
				return err
			}
			e.recordEvent(h, policy.Event{Time: now, Kind: kind, Agreement: ia.ID, Digest: ia.Digest})
			for _, l := range ia.Loosenings {
				e.recordEvent(h, policy.Event{Time: now, Kind: "agreement-override", Agreement: ia.ID, Digest: ia.Digest,
					Reasons: []string{fmt.Sprintf("%s = %s (baseline %s): %s", l.Term, l.Value, l.Baseline, l.Reason)}})
			}
			if e.json {
				return e.emitJSON(map[string]any{"id": ia.ID, "digest": ia.Digest, "path": dst, "event": kind, "overrides": ia.Loosenings})
			}
			e.printf("agreement %s installed (%s -> %s, digest %s)\n", ia.ID, ia.Sending().State, ia.Host().State, ia.Digest[:16])
			return nil
		},
	}
	c.Flags().BoolVar(&replace, "replace", false, "replace an installed agreement with the same id")
	return c
}
