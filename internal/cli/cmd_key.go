package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdKey(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "key",
		Short: "Rotate the root key, crypto-shred datasets, inspect key epochs",
	}
	c.AddCommand(cmdKeyRotate(e), cmdKeyShred(e), cmdKeyStatus(e))
	return c
}

func cmdKeyStatus(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the key epochs, custodians and datasets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			ks, err := v.KeyStatus(e.ctx)
			return printKeyStatus(e, ks, err)
		},
	}
}

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

func cmdKeyShred(e *env) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "shred DATASET --yes",
		Short: "Crypto-shred a dataset: make every copy anywhere undecryptable",
		Long: `Destroy a dataset's keys: every wrapped copy of them is deleted at every
site and in the home, and the root key moves to a new epoch, so that a copy
a hostile host may have kept is wrapped under a retired root whose custodian
shares no longer exist. The dataset's ciphertext is then deleted where the
sites allow it. This cannot be undone.`,
		Example: "  embassy key shred old-census --yes",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usagef("shredding %s cannot be undone; add --yes to confirm", args[0])
			}
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			rep, err := v.Shred(e.ctx, args[0])
			return printKeyShredded(e, rep, err)
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "confirm that the dataset is to be destroyed")
	return c
}
