package cli

import (
	"github.com/spf13/cobra"
)

func cmdSiteEvents(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "events [SITE...]",
		Short: "Pull host-side sessions and disclosures from daemon sites into the transparency log",
		Long: `Fetch the access events each embassy daemon site keeps (sessions opened by
host personnel with operator certificates, refused requests, and access
disclosures they filed with POST /v1/disclosures) and record the new ones in
the home's transparency log: disclosures as disclosure entries, host sessions
and refusals as session entries. 'embassy disclosures' then measures each
disclosure's delay and raises an alert for a host session that no disclosure
explains.`,
		Example: `  embassy site events
  embassy site events lu-1 && embassy disclosures`,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			results, err := e.vaultOf(h).SiteEvents(e.ctx, args...)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(results)
			}
			for _, r := range results {
				if r.Error == "" {
					e.printf("%s: %d new host sessions, %d new disclosures recorded\n", r.Site, r.Sessions, r.Disclosures)
				}
			}
			return nil
		},
	}
	return c
}
