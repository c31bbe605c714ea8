package cli

import "github.com/spf13/cobra"

// cmdAttest is a placeholder, replaced by the command's own implementation.
func cmdAttest(e *env) *cobra.Command {
	_ = e
	return &cobra.Command{Use: "attest", Hidden: true, RunE: func(*cobra.Command, []string) error { return usagef("'embassy attest' is not available in this build") }}
}
