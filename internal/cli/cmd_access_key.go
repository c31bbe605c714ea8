package cli

import (
	"github.com/spf13/cobra"
)

func cmdAccessKey(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "key",
		Short: "Print the home's access-decision key, for embassyd --access-key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			_, vkey, err := e.vaultOf(h).AccessKey()
			if err != nil {
				return err
			}
			e.printf("%s\n", vkey)
			return nil
		},
	}
}
