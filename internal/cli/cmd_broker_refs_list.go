package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func cmdBrokerRefsList(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List approved and pending reference values",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			s, err := v.BrokerRefs(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"approved": s.Approved, "pending": s.Pending})
			}
			for _, r := range s.Rows {
				fmt.Fprintf(e.stdout, "%-9s %-24s %-8s %s, digest %s\n", r.State, r.Name, r.TEE, plural(r.Measurements, "measurement"), r.Digest)
			}
			return nil
		},
	}
}
