package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

func cmdPrune(e *env) *cobra.Command {
	var dry bool
	var unused string
	c := &cobra.Command{
		Use:   "prune [DATASET...]",
		Short: "Delete data that no snapshot refers to",
		Long: `Delete packs that no remaining snapshot refers to, repack packs that are
mostly unused, and replace the indexes by one complete index. Prune never
loses a blob a snapshot still refers to, even when interrupted: new packs and
the new index are written before anything is deleted, and it refuses to run
if any snapshot cannot be read completely.

At a site with object lock (--retain-days), objects still under retention
are deferred at every site and deleted by a later prune (docs/formats/worm.md).`,
		Example: "  embassy prune population-register --dry-run",
		RunE: func(cmd *cobra.Command, args []string) error {
			waste, err := parseMaxUnused(unused)
			if err != nil {
				return err
			}
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
				if rep.Deferred > 0 {
					e.printf("%s: %s deferred under object lock: a later prune deletes them once their retention has passed\n", pr.Dataset, plural(rep.Deferred, "object"))
				}
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
	c.Flags().StringVar(&unused, "max-unused", "20%", "repack a pack when more than this share of it is unused (a percentage: 5%)")
	return c
}

// parseMaxUnused reads --max-unused: a percentage with its unit, so that
// "5" (5%? 5 bytes? 500%?) is refused rather than guessed.
func parseMaxUnused(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		return 0, hint.WithCode(hint.Wrap(fmt.Errorf("--max-unused %q has no unit", s), "give a percentage of each pack, e.g. --max-unused 5%"), hint.CodeUsage)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v <= 0 || v > 100 {
		return 0, hint.WithCode(hint.Wrap(fmt.Errorf("--max-unused %q is not a percentage above 0%% and at most 100%%", s), "e.g. --max-unused 5%"), hint.CodeUsage)
	}
	return v / 100, nil
}
