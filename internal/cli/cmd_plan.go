package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/plan"
)

// cmdPlan is the sovereignty strategy planner (internal/plan through
// vault/planfile.go; docs/SCENARIO.md).
func cmdPlan(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "plan",
		Short: "Plan a sovereignty strategy: score host sites, place data classes, simulate failures",
		Long:  helpText("plan"),
	}
	c.AddCommand(cmdPlanReport(e), cmdPlanCheck(e), cmdPlanApply(e), cmdPlanSchema(e))
	return c
}

func printDiffs(e *env, diffs []plan.Difference) {
	for _, d := range diffs {
		e.printf("  %s\n", d)
	}
}

func cmdPlanSchema(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of scenario files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := e.stdout.Write(plan.JSONSchema())
			return err
		},
	}
}
