package cli

import (
	"github.com/spf13/cobra"
)

func cmdPlanCheck(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "check SCENARIO",
		Short: "Compare the running system with the plan (exit 3 if it departs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			diffs, err := e.vaultOf(h).CheckPlan(e.ctx, args[0], e.stdin)
			switch {
			case diffs == nil:
				return err
			case e.json:
				if jerr := e.emitJSON(map[string]any{"differences": diffs, "conforms": len(diffs) == 0}); jerr != nil {
					return jerr
				}
			case len(diffs) == 0:
				e.printf("The system matches the plan.\n")
			default:
				e.printf("%s from the plan:\n", plural(len(diffs), "difference"))
				printDiffs(e, diffs)
			}
			return err
		},
	}
}
