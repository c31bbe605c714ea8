package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"
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
				loc, st := e.probeSite(e.ctx, sc, location.Options{})
				if st != "ok" {
					e.warned = true
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

// secretParams are query parameters whose values are credentials.
var secretParams = []string{"secret", "password", "token", "key", "credential", "signature", "sig"}

// redactURL returns a site URL fit to show (userinfo password and secret
// query values replaced by [redacted]) and a function that scrubs the same
// secrets, raw and URL-escaped, from any text such as an error message.
func redactURL(raw string) (string, func(string) string) {
	var secrets []string
	shown := raw
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				secrets = append(secrets, pw)
				u.User = url.UserPassword(u.User.Username(), "[redacted]")
			}
		}
		q := u.Query()
		changed := false
		for k, vs := range q {
			lk := strings.ToLower(k)
			for _, s := range secretParams {
				if strings.Contains(lk, s) && !strings.HasSuffix(lk, "file") && lk != "key" {
					secrets = append(secrets, vs...)
					q[k] = []string{"[redacted]"}
					changed = true
				}
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		shown = u.String()
	} else if i := strings.LastIndex(raw, "@"); i >= 0 {
		// Unparseable: cut everything before the last '@' after the scheme.
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			secrets = append(secrets, raw[j+3:i])
			shown = raw[:j+3] + "[redacted]@" + raw[i+1:]
		}
	}
	scrub := func(s string) string {
		for _, sec := range secrets {
			if len(sec) < 4 {
				continue
			}
			for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec), url.UserPassword("x", sec).String()[2:]} {
				s = strings.ReplaceAll(s, form, "[redacted]")
			}
		}
		return s
	}
	return scrub(shown), scrub
}

// probeSite opens a registered site and stats its vault descriptor: it
// returns the site's location and "ok", "unreachable: WHY" or "no vault:
// WHY", with every credential scrubbed from both (site list, dashboard).
func (e *env) probeSite(ctx context.Context, sc home.SiteConfig, o location.Options) (loc, status string) {
	b, err := location.Open(ctx, sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, o)
	loc, scrub := redactURL(sc.URL) // never show a credential, in the URL or in an error
	if err != nil {
		return loc, "unreachable: " + scrub(err.Error())
	}
	defer b.Close()
	loc, _ = redactURL(b.Properties().Location)
	loc = scrub(loc)
	if _, err := b.Stat(ctx, site.Handle{Kind: site.KindConfig, Name: "repo"}); err != nil {
		return loc, "no vault: " + scrub(err.Error())
	}
	return loc, "ok"
}
