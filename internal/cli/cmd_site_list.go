package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
)

func cmdSiteList(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the registered sites and whether they are reachable",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			type row struct {
				Name         string `json:"name"`
				Jurisdiction string `json:"jurisdiction"`
				Operator     string `json:"operator,omitempty"`
				Agreement    string `json:"agreement,omitempty"`
				URL          string `json:"url"`
				Location     string `json:"location,omitempty"`
				DistanceKm   *int   `json:"distance_km,omitempty"`
				Tier         int    `json:"tier,omitempty"`
				Status       string `json:"status"`
			}
			var rows []row
			for _, sc := range h.Config.Sites {
				st := "ok"
				b, err := location.Open(e.ctx, sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, location.Options{})
				loc := sc.URL
				if err != nil {
					st = "unreachable: " + err.Error()
					e.warned = true
				} else {
					loc = b.Properties().Location
					if _, err := b.Stat(e.ctx, site.Handle{Kind: site.KindConfig, Name: "repo"}); err != nil {
						st = "no vault: " + err.Error()
						e.warned = true
					}
					b.Close()
				}
				rw := row{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Operator: sc.Operator, Agreement: sc.Agreement, URL: loc, Location: sc.Location, Tier: sc.Tier, Status: st}
				if d := home.DistanceKm(h.Config.HomeLocation, sc.Location); d >= 0 {
					km := int(d + 0.5)
					rw.DistanceKm = &km
				}
				rows = append(rows, rw)
			}
			if e.json {
				if rows == nil {
					rows = []row{}
				}
				return e.emitJSON(rows)
			}
			if len(rows) == 0 {
				e.printf("No sites yet. Add one with 'embassy site add NAME --url DIR --jurisdiction CC'.\n")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tJURISDICTION\tOPERATOR\tDISTANCE\tURL\tSTATUS")
			for _, r := range rows {
				dist := "-"
				if r.DistanceKm != nil {
					dist = fmt.Sprintf("%d km", *r.DistanceKm)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Jurisdiction, r.Operator, dist, r.URL, r.Status)
			}
			return tw.Flush()
		},
	}
}
