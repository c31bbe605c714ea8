package cli

import (
	"os"

	"github.com/spf13/cobra"
)

// cmdBrokerRefs is 'embassy broker refs': sign here, add, approve and
// list in cmd_broker_refs_*.go.
func cmdBrokerRefs(e *env) *cobra.Command {
	c := &cobra.Command{Use: "refs", Short: "Sign, stage, approve and list reference values"}
	c.AddCommand(cmdBrokerRefsSign(e), cmdBrokerRefsAdd(e), cmdBrokerRefsApprove(e), cmdBrokerRefsList(e))
	return c
}

func cmdBrokerRefsSign(e *env) *cobra.Command {
	var out string
	sign := &cobra.Command{
		Use:   "sign VALUES.json -o SIGNED.json",
		Short: "Sign reference values with the home's root signing key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			enc, err := v.SignBrokerRefs(e.ctx, args[0])
			if err != nil {
				return err
			}
			if out == "" {
				_, err = e.stdout.Write(enc)
				return err
			}
			return os.WriteFile(out, enc, 0o644)
		},
	}
	sign.Flags().StringVarP(&out, "output", "o", "", "write the signed file here (default stdout)")
	return sign
}
