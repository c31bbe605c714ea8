package cli

import (
	"github.com/digital-embassy/embassy/internal/retention"
	"github.com/digital-embassy/embassy/internal/vault"
)

// printForget reports forget: JSON, or one keep/remove line per snapshot
// with its reasons, the count removed and what --prune freed.
func (e *env) printForget(res *vault.ForgetResult, p retention.Policy, dry bool) error {
	remove, decisions, pr := res.Removed, res.Decisions, res.Prune
	if e.json {
		return e.emitJSON(map[string]any{"dataset": res.Dataset, "policy": p.String(), "dry_run": dry, "removed": len(remove), "snapshots": decisions, "prune": pr})
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
	e.printf("%s: %s %s (%s)\n", res.Dataset, plural(len(remove), "snapshot"), map[bool]string{true: "would be removed", false: "removed"}[dry], p.String())
	if pr != nil {
		e.printf("pruned: %s deleted, %d repacked, %s freed\n", plural(pr.PacksDeleted, "pack"), pr.PacksRepacked, humanBytes(pr.BytesFreed))
		if pr.Deferred > 0 {
			e.printf("pruned: %s deferred under object lock: a later prune deletes them once their retention has passed\n", plural(pr.Deferred, "object"))
		}
	}
	return nil
}
