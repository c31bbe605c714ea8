package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdPKIShow(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Show a certificate's role, holder and validity",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vault.LoadCertView(args[0], time.Now())
			if err != nil {
				return err
			}
			return e.printCertView(v)
		},
	}
}
