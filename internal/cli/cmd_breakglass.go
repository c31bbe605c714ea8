package cli

import (
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
			return e.printBreakGlass(rows)
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
