package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/approval"
)

func cmdAccessRequest(e *env) *cobra.Command {
	var rq approval.Request
	request := &cobra.Command{
		Use:   "request --site S --reason CODE --who WHO --what WHAT [--access TYPE]",
		Short: "Record a host's access request (pending until decided)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).RequestAccess(e.ctx, rq)
			if err != nil {
				return err
			}
			if res.Auto {
				e.printf("Access request %d at %s denied at once: %s is under auto-deny in policy.yaml\n", res.Index, res.Site, res.Reason)
				e.warned = true
				return nil
			}
			e.printf("Access request %d at %s is pending: approve with 'embassy access approve %d --note ...' or deny it\n", res.Index, res.Site, res.Index)
			return nil
		},
	}
	f := request.Flags()
	f.StringVar(&rq.Site, "site", "", "site the access is for")
	f.StringVar(&rq.Reason, "reason", "", "reason code (see 'embassy disclose --help')")
	f.StringVar(&rq.Access, "access", "support", "access type")
	f.StringVar(&rq.Who, "who", "", "who asks: name, role and organisation")
	f.StringVar(&rq.What, "what", "", "what access is asked for")
	return request
}
