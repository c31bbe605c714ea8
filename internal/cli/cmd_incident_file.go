package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/incident"
)

func cmdIncidentFile(e *env) *cobra.Command {
	var f incident.Filing
	var occurred string
	file := &cobra.Command{
		Use:   "file --site S --type T --reporter WHO --what WHAT --occurred TIME",
		Short: "Record an incident a host reported",
		Example: `  embassy incident file --site lu-1 --type physical --reporter "LU GITC duty officer" \
      --what "UPS fire in hall B, racks powered down" --occurred 2026-11-25T03:10:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if occurred == "" {
				return usagef("give --occurred: when the incident happened at the site (RFC 3339, or a duration ago such as 3h)")
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if f.Occurred, err = parseWhen(occurred, e.now()); err != nil {
				return err
			}
			res, err := e.vaultOf(h).FileIncident(e.ctx, f)
			if err != nil {
				return err
			}
			e.printf("Logged incident %d: %s at %s, %s after it occurred (allowed %s); acknowledge with 'embassy incident ack %d'\n",
				res.Index, res.Type, res.Site, res.Delay.Round(time.Second), res.Allowed, res.Index)
			if res.Late {
				e.warnf("incident %d reached the home %s after it occurred; the agreement allows %s", res.Index, res.Delay.Round(time.Second), res.Allowed)
			}
			return nil
		},
	}
	fl := file.Flags()
	fl.StringVar(&f.Site, "site", "", "site where it happened")
	fl.StringVar(&f.Type, "type", "", "security, availability, physical or legal-process")
	fl.StringVar(&f.Reporter, "reporter", "", "who at the host reports it")
	fl.StringVar(&f.What, "what", "", "what happened")
	fl.StringVar(&occurred, "occurred", "", "when it happened (RFC 3339, or a duration ago such as 3h)")
	return file
}
