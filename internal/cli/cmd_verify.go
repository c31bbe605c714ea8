package cli

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
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
			if e.json {
				if rep.Damage == nil {
					rep.Damage = []repo.Damage{}
				}
				if err := e.emitJSON(rep); err != nil {
					return err
				}
			} else {
				mode := "structure"
				if readData {
					mode = "structure and all data"
				}
				e.printf("verified %s of %d datasets, %d snapshots at %s: %d packs", mode, rep.Datasets, rep.Snapshots, strings.Join(rep.Sites, ", "), rep.Packs)
				if readData {
					e.printf(", %d blobs, %s read", rep.Blobs, humanBytes(rep.Bytes))
				}
				e.printf("\n")
				for _, w := range rep.Withheld {
					e.printf("withheld by policy: site %s does not hold dataset %s (%d objects); not damage\n", w.Site, w.Dataset, w.Objects)
				}
				for _, d := range rep.Damage {
					fmt.Fprintf(e.stdout, "DAMAGED site=%s object=%s: %s", d.Site, d.Object, d.Problem)
					if len(d.Snapshots) > 0 {
						short := make([]string, len(d.Snapshots))
						for i, s := range d.Snapshots {
							short[i] = s[:8]
						}
						fmt.Fprintf(e.stdout, " (affects snapshots %s)", strings.Join(short, ", "))
					}
					fmt.Fprintln(e.stdout)
				}
			}
			if len(rep.Damage) > 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("%d problem(s) found", len(rep.Damage)),
					"restore still works while another site holds an intact copy; 'embassy repair' rebuilds damaged or missing objects from it (a site that cannot be reached must be fixed first)"), hint.CodeDamaged)
			}
			e.printf("no damage found\n")
			return nil
		},
	}
	c.Flags().BoolVar(&readData, "read-data", false, "download and authenticate every object")
	c.Flags().StringArrayVar(&sites, "site", nil, "check only this site (repeatable)")
	c.Flags().BoolVar(&proofMode, "proof", false, "ask the --site daemons to prove they hold a sample of every kind of object, without downloading it")
	c.Flags().IntVar(&sample, "sample", 256, "with --proof: objects sampled per kind")
	return c
}
