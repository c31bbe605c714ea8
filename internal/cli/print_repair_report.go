package cli

import (
	"fmt"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/vault"
)

// printRepair writes repair's report (JSON, or one line per action and a
// summary) and returns exit 3 when damage remains after a real repair.
func (e *env) printRepair(res *vault.RepairResult, dry bool) error {
	rep, acts, after := res.Before, res.Actions, res.After
	if e.json {
		if acts == nil {
			acts = []repo.RepairAction{}
		}
		if err := e.emitJSON(map[string]any{"damage_before": len(rep.Damage), "actions": acts, "damage_after": len(after.Damage), "remaining": after.Damage, "dry_run": dry}); err != nil {
			return err
		}
	} else {
		for _, a := range acts {
			switch {
			case a.Error != "":
				fmt.Fprintf(e.stdout, "FAILED  site=%s %s: %s\n", a.Site, a.Object, a.Error)
			case dry:
				fmt.Fprintf(e.stdout, "would copy  site=%s %s from %s\n", a.Site, a.Object, a.From)
			default:
				fmt.Fprintf(e.stdout, "repaired    site=%s %s from %s\n", a.Site, a.Object, a.From)
			}
		}
		e.printf("%s, %d repaired, %d remaining\n", vault.ProblemsFound(len(rep.Damage)), countDone(acts), len(after.Damage))
	}
	if n := len(after.Damage); n > 0 && !dry {
		remain := plural(n, "problem") + " remain"
		if n == 1 {
			remain += "s"
		}
		return hint.WithCode(hint.Wrap(fmt.Errorf("%s after repair", remain), repairHint(acts)), hint.CodeDamaged)
	}
	return nil
}

func countDone(acts []repo.RepairAction) int {
	n := 0
	for _, a := range acts {
		if a.Done {
			n++
		}
	}
	return n
}

// repairHint says why damage remains: an intact copy was found but could
// not be written (the FAILED lines name the site and its error), or no
// site holds one.
func repairHint(acts []repo.RepairAction) string {
	for _, a := range acts {
		if a.Error != "" && a.From != "" {
			return "an intact copy exists (at " + a.From + ") but writing it to site " + a.Site + " failed: see the FAILED lines, fix the site and run repair again"
		}
	}
	return "no site holds an intact copy of these objects; see 'embassy verify'"
}
