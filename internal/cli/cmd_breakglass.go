package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func cmdBreakGlass(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "break-glass",
		Short: "Show and close break-glass emergency access at sites",
		Long:  helpText("break_glass"),
	}
	c.AddCommand(cmdBreakGlassStatus(e), cmdBreakGlassClose(e))
	return c
}

func cmdBreakGlassStatus(e *env) *cobra.Command {
	var site, dataset string
	c := &cobra.Command{
		Use:   "status [--site S]",
		Short: "Show each site's break-glass state and whether a key could be released there",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			rows, err := e.vaultOf(h).BreakGlassStatus(e.ctx, site, dataset)
			if err != nil {
				return err
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
	c.Flags().StringVar(&site, "site", "", "only this site")
	c.Flags().StringVar(&dataset, "dataset", "", "decide for this dataset's class (default: the least strict class)")
	return c
}

func cmdBreakGlassClose(e *env) *cobra.Command {
	var site, note string
	c := &cobra.Command{
		Use:   "close --site S --note TEXT",
		Short: "Close a site's break-glass emergency access (the sending state)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			opened, idx, err := e.vaultOf(h).CloseBreakGlass(e.ctx, site, note)
			if err != nil {
				return err
			}
			e.printf("Closed break-glass at %s (opened by disclosure %d): entry %d\n", site, opened, idx)
			return nil
		},
	}
	c.Flags().StringVar(&site, "site", "", "site whose break-glass to close")
	c.Flags().StringVar(&note, "note", "", "what the sending state checked before closing")
	return c
}
