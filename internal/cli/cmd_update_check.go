package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdUpdateCheck(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "check [SITE...]",
		Short: "Compare the build each daemon site runs with the approved updates (exit 3 on an unapproved one)",
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.updatesVault()
			if err != nil {
				return err
			}
			res, err := v.CheckUpdates(e.ctx, args...)
			if err != nil {
				return err
			}
			if err := e.printUpdateChecks(res); err != nil {
				return err
			}
			return vault.UpdateCheckErr(res)
		},
	}
}
