package cli

import "github.com/spf13/cobra"

func cmdSLA(e *env) *cobra.Command {
	return &cobra.Command{Use: "sla", Short: "Monthly SLA reports against the agreements' terms", Hidden: true}
}
