package cli

import "github.com/spf13/cobra"

// cmdPlan is a placeholder, replaced by the command's own implementation.
func cmdPlan(e *env) *cobra.Command {
	_ = e
	return &cobra.Command{Use: "plan", Hidden: true, RunE: func(*cobra.Command, []string) error { return usagef("'embassy plan' is not available in this build") }}
}
