package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdDisclosures(e *env) *cobra.Command {
	var allowed, window time.Duration
	var site string
	c := &cobra.Command{
		Use:   "disclosures",
		Short: "List access disclosures, their delays and unlogged-access alerts",
		Long:  helpText("disclosures"),
		Example: `  embassy disclosures
  embassy disclosures --site lu-1 --allowed 12h --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			// each site's deadline is its agreement's; --allowed given overrides them all
			req := vault.DisclosuresRequest{Site: site, Fallback: allowed, Window: window}
			if cmd.Flags().Changed("allowed") {
				req.Override = allowed
			}
			vrep, err := e.vaultOf(h).Disclosures(e.ctx, req)
			if err != nil {
				return err
			}
			rep, deadline := vrep.DisclosureReport, vrep.Deadline
			if len(rep.Alerts) > 0 {
				e.warned = true
			}
			return e.printDisclosures(rep, deadline)
		},
	}
	f := c.Flags()
	f.DurationVar(&allowed, "allowed", tlog.DefaultAllowed, "how long after an access its disclosure may come, for sites whose agreement sets no deadline (given: for every site)")
	f.DurationVar(&window, "window", time.Hour, "how far apart a key use and its disclosure's access time may be and still match")
	f.StringVar(&site, "site", "", "only this site")
	return c
}
