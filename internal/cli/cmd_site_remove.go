package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func cmdSiteRemove(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop using a site (its data is left in place)",
		Long: `Remove a site from the registry. Its objects are not deleted: they stay
encrypted under keys only the home holds. To make a copy left at a hostile
host unreadable, crypto-shred the datasets ('embassy key shred') or rotate
the root key ('embassy key rotate').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			_, i := h.Site(args[0])
			if i < 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", args[0]), "see 'embassy site list'"), hint.CodeUsage)
			}
			h.Config.Sites = append(h.Config.Sites[:i], h.Config.Sites[i+1:]...)
			if err := h.Save(); err != nil {
				return err
			}
			e.audit(h, tlog.Entry{Kind: tlog.KindSiteRemove, Site: args[0]})
			e.printf("Removed site %s from the registry; its data was left in place.\n", args[0])
			return nil
		},
	}
}
