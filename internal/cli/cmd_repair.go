package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
)

func cmdRepair(e *env) *cobra.Command {
	var readData, dry bool
	var sites []string
	c := &cobra.Command{
		Use:   "repair [--read-data] [--site NAME] [--dry-run]",
		Short: "Rebuild what a site lost or damaged from the intact copies at other sites",
		Long: `Verify every site (reading all data with --read-data), then for each missing
or damaged object at a site copy an intact one from another site: content-
addressed objects must hash to their name before they are copied. Reports
every action, then verifies again. Damage no other site can repair is
reported and the command exits with code 3.

With --site only that site is checked and repaired (the others serve as
sources): 'embassy repair --site S --read-data' repairs what
'embassy verify --site S --proof' found, since it reads every object the
proof sampled from.`,
		Example: `  embassy repair --read-data
  embassy repair --site lu-1 --read-data
  embassy repair --dry-run --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			res, err := e.vaultOf(h).Repair(e.ctx, readData, dry, sites...)
			if err != nil {
				return err
			}
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
				e.printf("%d problem(s) found, %d repaired, %d remaining\n", len(rep.Damage), countDone(acts), len(after.Damage))
			}
			if len(after.Damage) > 0 && !dry {
				return hint.WithCode(hint.Wrap(fmt.Errorf("%d problem(s) remain after repair", len(after.Damage)), repairHint(acts)), hint.CodeDamaged)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&readData, "read-data", false, "verify every object's content, not only its presence and size")
	c.Flags().StringArrayVar(&sites, "site", nil, "check and repair only this site (repeatable)")
	c.Flags().BoolVarP(&dry, "dry-run", "n", false, "only report what would be repaired")
	return c
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
