package cli

import "github.com/spf13/cobra"

// cmdWorkload is a placeholder, replaced by the command's own implementation.
func cmdWorkload(e *env) *cobra.Command {
	_ = e
	return &cobra.Command{Use: "workload", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return usagef("'embassy workload' is not available in this build")
	}}
}
