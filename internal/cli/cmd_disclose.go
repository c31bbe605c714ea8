package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdDisclose(e *env) *cobra.Command {
	var site, reason, who, what, at, ticket, access, dataset, approval string
	c := &cobra.Command{
		Use:   "disclose --site S --reason CODE --who W --what W [--at T]",
		Short: "Record an access by host personnel in the transparency log",
		Long: helpText("disclose") + "\n\nReason codes (modelled on Google Key Access Justifications):\n" + reasonHelp() +
			"\nAccess types (--access):\n" + accessHelp(),
		Example: `  embassy disclose --site lu-1 --reason HOST_INITIATED_SERVICE --access physical \
      --who "LU GITC technician #4411" --what "rack B3: replaced PSU" --at 2026-11-25T08:10:00Z --ticket CHG-2291
  embassy disclose --site lu-1 --reason THIRD_PARTY_DATA_REQUEST --access legal-demand \
      --who "LU court order 2026/77" --what "dataset population-register (ciphertext only)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			req := vault.DiscloseRequest{Site: site, Reason: reason, Who: who, What: what, Access: access, Ticket: ticket, Dataset: dataset, Approval: approval}
			if at != "" {
				if req.At, err = parseWhen(at, e.now()); err != nil {
					return err
				}
			}
			res, err := e.vaultOf(h).Disclose(e.ctx, req)
			if err != nil {
				return err
			}
			if e.json {
				out := map[string]any{"index": res.Index, "site": site, "reason": res.Entry.Reason, "at": res.At, "delay": res.Delay.Round(time.Second).String(), "delay_ns": res.Delay}
				if res.Asked {
					out["policy"] = res.Decision
				}
				return e.emitJSON(out)
			}
			e.printf("Logged disclosure %d: %s at %s (%s after the access)\n", res.Index, res.Entry.Reason, site, res.Delay.Round(time.Second))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&site, "site", "", "site that was accessed")
	f.StringVar(&reason, "reason", "", "reason code (see above)")
	f.StringVar(&who, "who", "", "who accessed: name, role or badge, and organisation")
	f.StringVar(&what, "what", "", "what was accessed or done")
	f.StringVar(&at, "at", "", "when the access happened (RFC 3339, or a duration ago such as 3h; default now)")
	f.StringVar(&ticket, "ticket", "", "operator ticket or change id, used to match key uses and sessions")
	f.StringVar(&access, "access", "console", "access type (see above)")
	f.StringVar(&dataset, "dataset", "", "dataset the access concerned, for the policy decision (default: all data at the site, as the strictest class)")
	f.StringVar(&approval, "approved", "", "reference of the sending state's prior approval (legal demands; support access where the agreement requires approval)")
	for _, n := range []string{"site", "reason", "who", "what"} {
		_ = c.MarkFlagRequired(n)
	}
	return c
}
