package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/policy"
)

func cmdPolicyRules(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "Print the cedar decision rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := e.stdout.Write(policy.Rules())
			return err
		},
	}
}
