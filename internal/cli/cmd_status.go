package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func cmdStatus(e *env) *cobra.Command {
	var config string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show replication lag per dataset and site against each RPO, and recent continuity events",
		Long: `Show, for every protected dataset (from <home>/protect.yaml, or every dataset
of the vault if there is none) and every site, the newest committed snapshot
the site holds, the replication lag and the RPO; each site's lag in objects
and bytes (what another site holds and it lacks; 'embassy site sync' catches
up); then the last continuity events (drills, activations, alerts) from
<home>/events.jsonl.
Exit code 3 when a dataset is past its RPO at some site.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			st, err := e.vaultOf(h).Status(e.ctx, config, 10)
			if err != nil {
				return err
			}
			lags, past, siteLag, events := st.Lags, st.PastRPO, st.SiteLag, st.Events
			if past > 0 {
				e.warned = true
			}
			e.reportSites(r)
			if e.json {
				return e.emitJSON(map[string]any{"home": h.Config.Home, "time": st.Time, "lags": lags, "past_rpo": past, "site_lag": siteLag, "events": events})
			}
			printLags(e, lags)
			if len(siteLag) > 0 {
				e.printf("\n%-24s %16s %14s\n", "SITE", "MISSING OBJECTS", "MISSING BYTES")
				for _, l := range siteLag {
					e.printf("%-24s %16d %14s\n", l.Site, l.Objects, humanBytes(l.Bytes))
				}
			}
			if len(events) > 0 {
				e.printf("\nrecent events:\n")
				for _, ev := range events {
					e.printf("  %s  %-12s %s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Type, ev.Summary)
				}
			}
			if past > 0 {
				fmt.Fprintf(e.stderr, "embassy: warning: %d dataset/site pairs are past their RPO\n", past)
			}
			return nil
		},
	}
	c.Flags().StringVar(&config, "config", "", "protection configuration (default <home>/protect.yaml)")
	return c
}
