package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/retention"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdForget(e *env) *cobra.Command {
	var p retention.Policy
	var within string
	var dry, prune bool
	c := &cobra.Command{
		Use:   "forget DATASET [ID...] | forget DATASET --keep-...",
		Short: "Remove snapshots by ID or by retention rules",
		Long: `Remove snapshot manifests, either the given IDs (prefixes are enough) or
every snapshot the --keep rules do not keep. The data they referred to is
only deleted by 'embassy prune' (or --prune).`,
		Example: `  embassy forget population-register --keep-last 7 --keep-daily 30 --keep-monthly 12 --dry-run
  embassy forget population-register 3fa2c1ab --prune`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d0, err := retention.ParseWithin(within)
			if err != nil {
				return usageError{err}
			}
			p.Within = d0
			ids := args[1:]
			if len(ids) == 0 && p.Empty() {
				return usagef("give snapshot IDs or at least one --keep rule")
			}
			if len(ids) > 0 && !p.Empty() {
				return usagef("give either snapshot IDs or --keep rules, not both")
			}
			h, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			res, err := e.vaultOf(h).Forget(e.ctx, vault.ForgetRequest{Dataset: args[0], IDs: ids, Keep: p, DryRun: dry, Prune: prune})
			if err != nil {
				return err
			}
			e.reportSites(r)
			return e.printForget(res, p, dry)
		},
	}
	f := c.Flags()
	f.IntVar(&p.Last, "keep-last", 0, "keep the N newest snapshots")
	f.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours")
	f.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last N days")
	f.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N weeks")
	f.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months")
	f.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years")
	f.StringVar(&within, "keep-within", "", "keep every snapshot newer than this (e.g. 36h, 7d, 2w, 6m, 1y)")
	f.BoolVarP(&dry, "dry-run", "n", false, "show what would be removed")
	f.BoolVar(&prune, "prune", false, "prune unreferenced data afterwards")
	return c
}
