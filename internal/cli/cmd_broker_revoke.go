package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func cmdBrokerRevoke(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke measurement|site|workload|dataset VALUE",
		Short: "Stop every further release to a measurement, site, workload or of a dataset, at once",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if err := e.vaultOf(h).RevokeBroker(e.ctx, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s %s: no further releases\n", args[0], args[1])
			return nil
		},
	}
}
