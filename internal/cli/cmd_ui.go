package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdUI(e *env) *cobra.Command {
	var req vault.DashboardRequest
	c := &cobra.Command{
		Use:   "ui",
		Short: "Serve the operator dashboard",
		Long:  helpText("ui"),
		Example: `  embassy ui --listen 127.0.0.1:8080
  embassy ui link --role auditor --name eu-auditor
  embassy ui link --role operator --name ops-lu --site lu-1 --ttl 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			return e.vaultOf(h).ServeDashboard(e.ctx, req, func(shown string) {
				e.printf("dashboard on http://%s/ (sign in with 'embassy ui link')\n", shown)
			})
		},
	}
	c.Flags().StringVar(&req.Listen, "listen", "127.0.0.1:8080", "address to serve the dashboard on")
	c.Flags().StringVar(&req.RPID, "rp-id", "localhost", "host name people reach the page at; passkeys are bound to it")
	c.AddCommand(cmdUILink(e))
	return c
}

func cmdUILink(e *env) *cobra.Command {
	var req vault.DashboardLinkRequest
	c := &cobra.Command{
		Use:   "link",
		Short: "Issue a one-time sign-in link for the dashboard",
		Long:  helpText("ui_link"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			l, err := e.vaultOf(h).IssueDashboardLink(req)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(l)
			}
			fmt.Fprintln(e.stdout, l.URL)
			return nil
		},
	}
	c.Flags().StringVar(&req.Role, "role", "auditor", "home, auditor, operator or custodian")
	c.Flags().StringVar(&req.Name, "name", "", "who the link is for")
	c.Flags().StringVar(&req.Site, "site", "", "the one site an operator sees (required for --role operator)")
	c.Flags().StringVar(&req.Addr, "addr", "localhost:8080", "the dashboard's address, for the printed link")
	c.Flags().DurationVar(&req.TTL, "ttl", 15*time.Minute, "how long the link stays valid (at most 24h)")
	return c
}
