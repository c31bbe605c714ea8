package cli

import (
	"github.com/spf13/cobra"
)

func cmdWitnessAdd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "add NAME VKEY URL",
		Short:   "Require a host site's witness in the home's log policy",
		Long:    helpText("witness_add"),
		Example: `  embassy witness add lu-1 lu-1+3c1f2a9b+BH... http://10.0.0.5:7380`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			np, err := e.vaultOf(h).AddWitness(e.ctx, args[0], args[1], args[2])
			if err != nil {
				return err
			}
			e.printf("Added witness %s; the quorum now requires its cosignature\n", args[0])
			warnHomeAlone(e, np)
			return nil
		},
	}
}
