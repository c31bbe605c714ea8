package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
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
			all, err := r.Datasets(e.ctx)
			if err != nil {
				return err
			}
			names := args
			if len(names) == 0 {
				for n := range all {
					names = append(names, n)
				}
				sort.Strings(names)
			}
			var reps []*repo.PruneReport
			for _, n := range names {
				dk, err := r.Dataset(e.ctx, n)
				if err != nil {
					return err
				}
				unlock, err := h.Lock("dataset-"+dk.ID, true)
				if err != nil {
					return err
				}
				if _, err := r.SyncDataset(e.ctx, dk.ID); err != nil {
					return err
				}
				d, err := r.OpenDataset(e.ctx, dk)
				if err != nil {
					unlock()
					return err
				}
				rep, err := d.Prune(e.ctx, repo.PruneOptions{DryRun: dry, MaxWaste: waste})
				unlock()
				if err != nil {
					return err
				}
				reps = append(reps, rep)
				if !dry {
					e.audit(h, tlog.Entry{Kind: tlog.KindPrune, Dataset: dk.ID, Details: map[string]string{"packs_deleted": fmt.Sprint(rep.PacksDeleted), "packs_repacked": fmt.Sprint(rep.PacksRepacked), "bytes_freed": fmt.Sprint(rep.BytesFreed)}})
				}
				e.printf("%s: %d snapshots, %d blobs used, %d unused; packs: %d kept, %d deleted, %d repacked, %d orphans removed; %s %s\n",
					n, rep.Snapshots, rep.UsedBlobs, rep.UnusedBlobs, rep.PacksKept, rep.PacksDeleted, rep.PacksRepacked, rep.OrphanPacks,
					humanBytes(rep.BytesFreed), map[bool]string{true: "would be freed", false: "freed"}[dry])
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
