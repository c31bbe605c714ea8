package cli

import (
	"github.com/spf13/cobra"
)

func cmdPolicy(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Explain placement, residency and key-release decisions",
		Long: `Every write, replication, read, restore, disclosure and key release asks one
policy engine: cedar rules (see 'embassy policy rules') fed with the home's
settings (<home>/policy.yaml, docs/POLICY.md), the baseline and the installed
agreements. A denial comes with reasons a person can act on.`,
	}
	c.AddCommand(cmdPolicyExplain(e), cmdPolicyRules(e))
	return c
}
