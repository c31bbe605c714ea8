package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdKeyRotate(e *env) *cobra.Command {
	var custodians []string
	var threshold int
	c := &cobra.Command{
		Use:   "rotate [--custodian R ... --threshold K]",
		Short: "Move to a new root key and new data keys; re-issue custodian shares",
		Long: `Rotate the home's keys: a new root key epoch with freshly issued custodian
shares (optionally to a new set of custodians or a new threshold), and a new
key version for every dataset so that new writes use new keys. Every old key
version is re-wrapped under the new root so old snapshots stay readable.

The new shares are checked to reconstruct the new root (every k-subset)
before anything is written, and the old epoch's shares and wrapped keys are
deleted only after the new epoch is committed at every site. Every site
must be reachable.`,
		Example: `  embassy key rotate
  embassy key rotate --custodian alice.pub --custodian bob.pub --custodian carol.pub --custodian dan.pub --threshold 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := vault.ReadRecipients(custodians)
			if err != nil {
				return err
			}
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			rep, ep, err := v.Rotate(e.ctx, vault.RotateRequest{Custodians: recs, Threshold: threshold})
			return printKeyRotated(e, rep, ep, err)
		},
	}
	c.Flags().StringArrayVar(&custodians, "custodian", nil, "new custodian recipients (default: keep the current custodians)")
	c.Flags().IntVar(&threshold, "threshold", 0, "new threshold (default: keep)")
	return c
}
