package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdExitStatus(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List open exits and those past the agreement's deadline (exit code 3)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			if _, err := v.CheckExits(); err != nil {
				return err
			}
			open, err := v.ExitStatus()
			if err != nil {
				return err
			}
			for _, oe := range open {
				if oe.Overdue {
					e.warned = true
				}
			}
			if e.json {
				if open == nil {
					open = []vault.OpenExit{}
				}
				return e.emitJSON(open)
			}
			if len(open) == 0 {
				e.printf("no exit is open\n")
			}
			for _, oe := range open {
				st := "open"
				if oe.Overdue {
					st = "OVERDUE"
				}
				e.printf("%s: %s, began %s, deadline %s (%s)\n", oe.Site, st, oe.Started.Format(time.DateOnly), oe.Deadline.Format(time.RFC3339), plural(oe.Days, "day"))
			}
			return nil
		},
	}
}
