package cli

import "github.com/spf13/cobra"

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
