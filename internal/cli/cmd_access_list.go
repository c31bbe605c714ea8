package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/approval"
)

func cmdAccessList(e *env) *cobra.Command {
	var pull bool
	list := &cobra.Command{
		Use:   "list [--pull]",
		Short: "List access requests and their decisions (--pull: from the daemons first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			v := e.vaultOf(h)
			if pull {
				p, err := v.PullAccess(e.ctx)
				if err != nil {
					return err
				}
				e.warned = e.warned || len(p.Errors) > 0 || p.Invalid > 0 || autoDenied(p.New)
			}
			st, err := v.AccessRequests(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(append([]approval.State{}, st...))
			}
			for _, s := range st {
				e.printf("%s\n", accessLine(s))
			}
			if len(st) == 0 {
				e.printf("no access requests in the log\n")
			}
			return nil
		},
	}
	list.Flags().BoolVar(&pull, "pull", false, "first fetch the requests filed at daemon sites and deliver pending decisions")
	return list
}
