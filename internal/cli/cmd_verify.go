package cli

import (
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/repo"
)

func cmdVerify(e *env) *cobra.Command {
	var readData bool
	var sites []string
	var proofMode bool
	var sample int
	c := &cobra.Command{
		Use:   "verify [--read-data] [--site NAME]",
		Short: "Check that every site holds the whole vault intact",
		Long: `Check every site: the signed repository descriptor and key epochs, the
custodian shares, and that every snapshot, index and pack the vault needs is
present with the right size; every snapshot's directory trees must resolve.
With --read-data every pack is downloaded and every blob authenticated and
checked against its ID.

Damage is reported by site, object and affected snapshots, and the command
exits with code 3.`,
		Example: `  embassy verify
  embassy verify --read-data --site lu-1 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			if proofMode {
				return e.verifyProof(h, sites, sample)
			}
			var done, total atomic.Int64
			b := e.newBar("verify", func() (int64, int64) { return done.Load(), total.Load() })
			rep, err := e.vaultOf(h).Verify(e.ctx, repo.VerifyOptions{ReadData: readData, Sites: sites, Progress: func(d, t int64) { done.Store(d); total.Store(t) }})
			b.done()
			if err != nil {
				return err
			}
			if err := e.printVerify(rep, readData); err != nil {
				return err
			}
			return e.verifyResult(rep)
		},
	}
	c.Flags().BoolVar(&readData, "read-data", false, "download and authenticate every object")
	c.Flags().StringArrayVar(&sites, "site", nil, "check only this site (repeatable)")
	c.Flags().BoolVar(&proofMode, "proof", false, "ask the --site daemons to prove they hold a sample of every kind of object, without downloading it")
	c.Flags().IntVar(&sample, "sample", 256, "with --proof: objects sampled per kind")
	return c
}
