package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/repo"
)

func cmdPrune(e *env) *cobra.Command {
	var dry bool
	var waste float64
	c := &cobra.Command{
		Use:   "prune [DATASET...]",
		Short: "Delete data that no snapshot refers to",
		Long: `Delete packs that no remaining snapshot refers to, repack packs that are
mostly unused, and replace the indexes by one complete index. Prune never
loses a blob a snapshot still refers to, even when interrupted: new packs and
the new index are written before anything is deleted, and it refuses to run
if any snapshot cannot be read completely.`,
		Example: "  embassy prune population-register --dry-run",
		RunE: func(cmd *cobra.Command, args []string) error {
			h, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			res, err := e.vaultOf(h).Prune(e.ctx, args, repo.PruneOptions{DryRun: dry, MaxWaste: waste})
			var reps []*repo.PruneReport
			for _, pr := range res {
				rep := pr.Report
				reps = append(reps, rep)
				e.printf("%s: %d snapshots, %d blobs used, %d unused; packs: %d kept, %d deleted, %d repacked, %d orphans removed; %s %s\n",
					pr.Dataset, rep.Snapshots, rep.UsedBlobs, rep.UnusedBlobs, rep.PacksKept, rep.PacksDeleted, rep.PacksRepacked, rep.OrphanPacks,
					humanBytes(rep.BytesFreed), map[bool]string{true: "would be freed", false: "freed"}[dry])
			}
			if err != nil {
				return err
			}
			e.reportSites(r)
			if e.json {
				if reps == nil {
					reps = []*repo.PruneReport{}
				}
				return e.emitJSON(reps)
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&dry, "dry-run", "n", false, "only report what would be deleted")
	c.Flags().Float64Var(&waste, "max-unused", 0.2, "repack a pack when more than this fraction of it is unused")
	return c
}
