package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdExit(e *env) *cobra.Command {
	var req vault.ExitRequest
	var cancel bool
	c := &cobra.Command{
		Use:   "exit SITE [--archive FILE] [--shred DATASET...] [--keep-data] [--notice]",
		Short: "Leave a host: export its copy, prove it restores, delete it, get a certificate",
		Long:  helpText("exit"),
		Example: `  embassy exit lu-1 --notice
  embassy exit lu-1 --archive lu-1-exit.tar
  embassy exit status
  embassy exit verify lu-1-exit.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openVaultOnly()
			if err != nil {
				return err
			}
			req.Site, req.Progress = args[0], func(msg string) { e.printf("%s\n", msg) }
			if cancel {
				oe, err := v.CancelExit(e.ctx, args[0])
				if err != nil {
					return err
				}
				e.printf("exit from %s withdrawn (it began %s); the site stays in the registry\n", oe.Site, oe.Started.Format(time.RFC3339))
				return nil
			}
			rep, err := v.Exit(e.ctx, req)
			if err != nil {
				return err
			}
			return e.printExit(req, rep)
		},
	}
	f := c.Flags()
	f.StringVar(&req.Archive, "archive", "", "archive file to write (default embassy-exit-SITE-DATE.tar)")
	f.StringSliceVar(&req.Shred, "shred", nil, "crypto-shred these datasets first (repeatable; cannot be undone)")
	f.BoolVar(&req.KeepData, "keep-data", false, "do not delete the data at the site (no certificate)")
	f.BoolVar(&req.Notice, "notice", false, "only begin the exit: record its start and the agreement's deadline")
	f.BoolVar(&cancel, "cancel", false, "withdraw an open exit (logged); the site stays")
	c.AddCommand(cmdExitVerify(e), cmdExitStatus(e))
	return c
}

// openVaultOnly opens the home's vault without opening its sites (the
// operation opens what it needs, under its locks).
func (e *env) openVaultOnly() (*vault.Vault, error) {
	h, err := e.openHome()
	if err != nil {
		return nil, err
	}
	return e.vaultOf(h), nil
}
