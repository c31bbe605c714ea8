package cli

import (
	"github.com/spf13/cobra"
)

func cmdWitness(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "witness",
		Short: "Run or register C2SP tlog-witnesses for the transparency log",
		Long:  helpText("witness"),
	}
	c.AddCommand(cmdWitnessServe(e), cmdWitnessKey(e), cmdWitnessAdd(e))
	return c
}
