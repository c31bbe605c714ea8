package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func cmdBrokerRefs(e *env) *cobra.Command {
	c := &cobra.Command{Use: "refs", Short: "Sign, stage, approve and list reference values"}
	var out string
	sign := &cobra.Command{
		Use:   "sign VALUES.json -o SIGNED.json",
		Short: "Sign reference values with the home's root signing key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			enc, err := e.vaultOf(h).SignBrokerRefs(e.ctx, args[0])
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
	add := &cobra.Command{
		Use:   "add SIGNED.json",
		Short: "Verify signed reference values and stage them for approval",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			r, err := e.vaultOf(h).StageBrokerRefs(e.ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "staged reference values %s (%s, %d measurements); approve with 'embassy broker refs approve %s'\n", r.Name, r.TEE, len(r.Measurements), r.Name)
			return nil
		},
	}
	approve := &cobra.Command{
		Use:   "approve NAME",
		Short: "Approve staged reference values: workloads matching them may receive keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			r, err := e.vaultOf(h).ApproveBrokerRefs(e.ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "approved reference values %s\n", r.Name)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List approved and pending reference values",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			s, err := e.vaultOf(h).BrokerRefs(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"approved": s.Approved, "pending": s.Pending})
			}
			for _, r := range s.Rows {
				fmt.Fprintf(e.stdout, "%-9s %-24s %-8s %d measurements, digest %s\n", r.State, r.Name, r.TEE, r.Measurements, r.Digest)
			}
			return nil
		},
	}
	c.AddCommand(sign, add, approve, list)
	return c
}
