package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
)

func cmdCustodianShow(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Print the public recipient of a custodian identity file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			ids, err := keys.ParseIdentities(b)
			if err != nil {
				return hint.WithCode(fmt.Errorf("%s: %w", args[0], err), hint.CodeKey)
			}
			for _, id := range ids {
				fmt.Fprintln(e.stdout, keys.RecipientOf(id))
			}
			return nil
		},
	}
}
