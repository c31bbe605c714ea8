package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/retention"
	"github.com/digital-embassy/embassy/internal/tlog"
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
			dk, err := r.Dataset(e.ctx, args[0])
			if err != nil {
				return err
			}
			unlock, err := h.Lock("dataset-"+dk.ID, true)
			if err != nil {
				return err
			}
			defer unlock()
			if _, err := r.SyncDataset(e.ctx, dk.ID); err != nil {
				return err
			}
			d, err := r.OpenDataset(e.ctx, dk)
			if err != nil {
				return err
			}
			var remove []*repo.Snapshot
			type out struct {
				ID      string   `json:"id"`
				Time    string   `json:"time"`
				Keep    bool     `json:"keep"`
				Reasons []string `json:"reasons,omitempty"`
			}
			var decisions []out
			if len(ids) > 0 {
				for _, id := range ids {
					s, err := d.FindSnapshot(e.ctx, id)
					if err != nil {
						return err
					}
					remove = append(remove, s)
					decisions = append(decisions, out{s.ID.String(), s.Time.Format(time.RFC3339), false, []string{"named"}})
				}
			} else {
				snaps, _, err := d.Snapshots(e.ctx)
				if err != nil {
					return err
				}
				byID := map[string]*repo.Snapshot{}
				var items []retention.Item
				for _, s := range snaps {
					byID[s.ID.String()] = s
					items = append(items, retention.Item{ID: s.ID.String(), Time: s.Time})
				}
				for _, dc := range retention.Apply(items, p, time.Now()) {
					decisions = append(decisions, out{dc.ID, dc.Time.Format(time.RFC3339), dc.Keep, dc.Reasons})
					if !dc.Keep {
						remove = append(remove, byID[dc.ID])
					}
				}
			}
			if !dry {
				ids := make([]repo.ID, 0, len(remove))
				for _, s := range remove {
					ids = append(ids, s.ID)
				}
				if err := d.Forget(e.ctx, ids); err != nil { // signed tombstones, then deletion
					return hint.Wrap(err, "run forget again; removing a manifest is idempotent")
				}
			}
			var pr *repo.PruneReport
			if prune && !dry && len(remove) > 0 {
				if err := d.LoadIndex(e.ctx); err != nil {
					return err
				}
				if pr, err = d.Prune(e.ctx, repo.PruneOptions{}); err != nil {
					return err
				}
			}
			e.reportSites(r)
			if !dry {
				var ents []tlog.Entry
				for _, s := range remove {
					ents = append(ents, tlog.Entry{Kind: tlog.KindForget, Dataset: dk.ID, Object: s.ID.String()})
				}
				e.auditAll(h, ents)
			}
			if e.json {
				return e.emitJSON(map[string]any{"dataset": dk.Name, "policy": p.String(), "dry_run": dry, "removed": len(remove), "snapshots": decisions, "prune": pr})
			}
			for _, dc := range decisions {
				verb := "keep  "
				if !dc.Keep {
					verb = "remove"
					if dry {
						verb = "would remove"
					}
				}
				e.printf("%s %s %s %v\n", verb, dc.ID[:8], dc.Time, dc.Reasons)
			}
			e.printf("%s: %d snapshot(s) %s (%s)\n", dk.Name, len(remove), map[bool]string{true: "would be removed", false: "removed"}[dry], p.String())
			if pr != nil {
				e.printf("pruned: %d packs deleted, %d repacked, %s freed\n", pr.PacksDeleted, pr.PacksRepacked, humanBytes(pr.BytesFreed))
			}
			return nil
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
	_ = fmt.Sprint
	return c
}
