package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// 'embassy broker refs add' and 'approve': staging reference values and
// approving them are two steps, so that a second look sits between them.

func cmdBrokerRefsAdd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "add SIGNED.json",
		Short: "Verify signed reference values and stage them for approval",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			r, err := v.StageBrokerRefs(e.ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "staged reference values %s (%s, %s); approve with 'embassy broker refs approve %s'\n", r.Name, r.TEE, plural(len(r.Measurements), "measurement"), r.Name)
			return nil
		},
	}
}

func cmdBrokerRefsApprove(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "approve NAME",
		Short: "Approve staged reference values: workloads matching them may receive keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			r, err := v.ApproveBrokerRefs(e.ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "approved reference values %s\n", r.Name)
			return nil
		},
	}
}
