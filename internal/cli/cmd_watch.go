package cli

import "github.com/spf13/cobra"

// cmdWatch is a placeholder, replaced by the command's own implementation.
func cmdWatch(e *env) *cobra.Command {
	_ = e
	return &cobra.Command{Use: "watch", Hidden: true, RunE: func(*cobra.Command, []string) error { return usagef("'embassy watch' is not available in this build") }}
}
