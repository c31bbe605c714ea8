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
			h, err := e.openHome()
			if err != nil {
				return err
			}
			ks, err := e.vaultOf(h).KeyStatus(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(ks)
			}
			e.printf("home %s, root key epoch %d (%s) since %s\n", ks.Home, ks.Epoch, ks.Fingerprint, ks.Created.Format("2006-01-02 15:04"))
			e.printf("fingerprint: %s\n", ks.HomeFingerprint)
			e.printf("custodians: %d of %d needed to recover\n", ks.Threshold, len(ks.Custodians))
			for _, c := range ks.Custodians {
				rec := c.Recipient
				if len(rec) > 24 {
					rec = rec[:16] + "..." + rec[len(rec)-6:]
				}
				e.printf("  %d  %s\n", c.Index, rec)
			}
			for _, d := range ks.Datasets {
				e.printf("dataset %s: key version %d (%d versions readable)\n", d.Name, d.Current, d.Versions)
			}
			return nil
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
			req := vault.RotateRequest{Threshold: threshold}
			for _, c := range custodians {
				rec, err := readRecipient(c)
				if err != nil {
					return err
				}
				req.Custodians = append(req.Custodians, rec)
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			rep, ep, err := e.vaultOf(h).Rotate(e.ctx, req)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(rep)
			}
			e.printf("rotated root key: epoch %d -> %d (%s), %d-of-%d custodians; %d datasets moved to new key versions; %d old key objects retired\n",
				rep.OldEpoch, rep.NewEpoch, ep.Fingerprint, ep.Threshold, len(ep.Custodians), rep.Datasets, rep.Retired)
			return nil
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
			h, err := e.openHome()
			if err != nil {
				return err
			}
			rep, err := e.vaultOf(h).Shred(e.ctx, args[0])
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(rep)
			}
			e.printf("shredded dataset %s (%s): %d wrapped key objects and %d data objects deleted; root key moved to epoch %d\n",
				rep.Dataset, rep.DatasetID, rep.KeysDeleted, rep.Objects, rep.NewEpoch)
			return nil
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "confirm that the dataset is to be destroyed")
	return c
}
