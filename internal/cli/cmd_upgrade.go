package cli

import "github.com/spf13/cobra"

// cmdUpgrade is a placeholder, replaced by the command's own implementation.
func cmdUpgrade(e *env) *cobra.Command {
	_ = e
	return &cobra.Command{Use: "upgrade", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return usagef("'embassy upgrade' is not available in this build")
	}}
}
