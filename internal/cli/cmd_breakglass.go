package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
)

// breakGlassOpen reports whether a break-glass emergency access is open at
// site (vault.BreakGlassAt: from the home's log, followed incrementally).
func (e *env) breakGlassOpen(h *home.Home, site string) (policy.BreakGlass, error) {
	return e.vaultOf(h).BreakGlassAt(e.ctx, site)
}

func cmdBreakGlass(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "break-glass",
		Short: "Show and close break-glass emergency access at sites",
		Long: `Break-glass is the host's emergency intervention (fire, flood, safety) as a
distinct access class: physical or operational only. It opens when the host
discloses an access with reason EMERGENCY_BREAK_GLASS ('embassy disclose');
while it is open no dataset key is released at the site (policy rule
break-glass-open), attested workload or not. Only the sending state closes
it, here, with an entry in the transparency log.`,
	}
	var site, dataset string
	status := &cobra.Command{
		Use:   "status [--site S]",
		Short: "Show each site's break-glass state and whether a key could be released there",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			g, err := e.vaultOf(h).Gate()
			if err != nil {
				return err
			}
			type row struct {
				policy.BreakGlass
				KeyRelease policy.Decision `json:"key_release"`
			}
			var rows []row
			for _, sc := range h.Config.Sites {
				if site != "" && sc.Name != site {
					continue
				}
				bg, lerr := e.breakGlassOpen(h, sc.Name)
				if lerr != nil {
					e.warnf("site %s: transparency log unreadable, break-glass taken as open: %v", sc.Name, lerr)
				}
				ds := policy.Dataset{Name: dataset, Class: "C0-I0-A0"}
				if dataset != "" {
					if cl, err := e.datasetClassCached(h, dataset); err == nil {
						ds.Class = cl
					}
				} else {
					ds.Name = "(any)"
				}
				d := g.Engine.Decide(policy.Request{Action: policy.KeyRelease, Dataset: ds, Site: g.Site(sc), Now: e.now(), Attested: true, BreakGlass: bg.Open})
				rows = append(rows, row{bg, d})
			}
			if site != "" && len(rows) == 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", site), "see 'embassy site list'"), hint.CodeUsage)
			}
			if e.json {
				return e.emitJSON(rows)
			}
			for _, r := range rows {
				state := "closed"
				if r.Open {
					state = fmt.Sprintf("OPEN since %s (disclosure %d)", r.Since.UTC().Format("2006-01-02 15:04"), r.Opened)
				}
				rel := "key release to an attested workload: allowed"
				if !r.KeyRelease.Allow {
					rel = "key release: refused (" + strings.Join(r.KeyRelease.Rules, ",") + ")"
				}
				e.printf("%s: break-glass %s; %s\n", r.Site, state, rel)
			}
			return nil
		},
	}
	status.Flags().StringVar(&site, "site", "", "only this site")
	status.Flags().StringVar(&dataset, "dataset", "", "decide for this dataset's class (default: the least strict class)")
	var closeSite, note string
	closeCmd := &cobra.Command{
		Use:   "close --site S --note TEXT",
		Short: "Close a site's break-glass emergency access (the sending state)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if closeSite == "" || strings.TrimSpace(note) == "" {
				return usagef("give --site and --note: what the sending state checked before closing")
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if sc, _ := h.Site(closeSite); sc == nil {
				return hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", closeSite), "see 'embassy site list'"), hint.CodeUsage)
			}
			bg, err := e.breakGlassOpen(h, closeSite)
			if err != nil {
				return err
			}
			if !bg.Open {
				return hint.WithCode(fmt.Errorf("no break-glass is open at site %s", closeSite), hint.CodeUsage)
			}
			idx, _, err := e.recordIndex(h, policy.BreakGlassEntry(closeSite, note))
			if err != nil {
				return err
			}
			e.printf("Closed break-glass at %s (opened by disclosure %d): entry %d\n", closeSite, bg.Opened, idx)
			return nil
		},
	}
	closeCmd.Flags().StringVar(&closeSite, "site", "", "site whose break-glass to close")
	closeCmd.Flags().StringVar(&note, "note", "", "what the sending state checked before closing")
	c.AddCommand(status, closeCmd)
	return c
}
