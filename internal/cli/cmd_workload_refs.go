package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdWorkloadRefs(e *env) *cobra.Command {
	var t vault.WorkloadTEE
	var name, desc string
	c := &cobra.Command{
		Use:   "refs --name NAME [--tee tpm|tpm-sim] [--measure PCR=FILE]",
		Short: "Print this machine's measurements as unsigned reference values (to review, sign and publish)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rv, err := vault.WorkloadRefs(t, name, desc, time.Now().UTC())
			if err != nil {
				return err
			}
			return e.emitJSON(rv)
		},
	}
	addTEEFlags(c, &t)
	c.Flags().StringVar(&name, "name", "", "name of the reference values (e.g. inference-v1)")
	c.Flags().StringVar(&desc, "description", "", "what these values are (firmware, image, version)")
	return c
}
