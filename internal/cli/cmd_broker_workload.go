package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func cmdBrokerWorkload(e *env) *cobra.Command {
	c := &cobra.Command{Use: "workload", Short: "Pin workload identities to sites"}
	var identity, site string
	add := &cobra.Command{
		Use:   "add NAME --identity FINGERPRINT --site SITE",
		Short: "Pin a workload identity (a TPM attestation key fingerprint) to a site",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if err := e.vaultOf(h).PinWorkload(e.ctx, args[0], identity, site); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "pinned workload %s at site %s\n", args[0], site)
			return nil
		},
	}
	add.Flags().StringVar(&identity, "identity", "", "the workload's identity ('embassy workload identity' prints it)")
	add.Flags().StringVar(&site, "site", "", "the site it runs at")
	c.AddCommand(add)
	return c
}
