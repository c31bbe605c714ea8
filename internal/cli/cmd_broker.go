package cli

import "github.com/spf13/cobra"

// cmdBroker is a placeholder, replaced by the command's own implementation.
func cmdBroker(e *env) *cobra.Command {
	_ = e
	return &cobra.Command{Use: "broker", Hidden: true, RunE: func(*cobra.Command, []string) error { return usagef("'embassy broker' is not available in this build") }}
}
