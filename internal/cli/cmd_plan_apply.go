package cli

import (
	"github.com/spf13/cobra"
)

func cmdPlanApply(e *env) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "apply SCENARIO",
		Short: "Make the system's sites and class rules match the plan (idempotent)",
		Long:  helpText("plan_apply"),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).ApplyPlanFile(e.ctx, args[0], e.stdin, dryRun)
			if res == nil {
				return err
			}
			if e.json {
				if jerr := e.emitJSON(map[string]any{"dry_run": dryRun, "actions": res.Done, "left": res.Left}); jerr != nil {
					return jerr
				}
				return err
			}
			verb := "Applied"
			if dryRun {
				verb = "Would apply"
			}
			if len(res.Done) == 0 {
				e.printf("Nothing to do.\n")
			} else {
				e.printf("%s %s:\n", verb, plural(len(res.Done), "change"))
				printDiffs(e, res.Done)
			}
			if len(res.Left) > 0 {
				e.printf("Left %s apply does not fix:\n", plural(len(res.Left), "difference"))
				printDiffs(e, res.Left)
			}
			return err
		},
	}
	c.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "print the actions without changing anything")
	return c
}
