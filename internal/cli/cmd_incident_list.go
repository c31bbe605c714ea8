package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/incident"
)

func cmdIncidentList(e *env) *cobra.Command {
	var pull bool
	list := &cobra.Command{
		Use:   "list [--pull]",
		Short: "List incidents with their delays; escalate overdue ones (exit 3)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			v := e.vaultOf(h)
			if pull {
				p, err := v.PullIncidents(e.ctx)
				if err != nil {
					return err
				}
				e.warned = e.warned || len(p.Errors) > 0 || p.Invalid > 0
			}
			esc, err := v.EscalateIncidents(e.ctx)
			if err != nil {
				return err
			}
			if esc.NotifyErr != "" {
				e.warnf("escalation alert not delivered: %s", esc.NotifyErr)
			}
			is, err := v.Incidents(e.ctx)
			if err != nil {
				return err
			}
			for _, in := range is {
				e.warned = e.warned || in.Late || in.Escalated
			}
			if e.json {
				return e.emitJSON(append([]incident.Incident{}, is...))
			}
			for _, in := range is {
				e.printf("%s\n", incidentLine(in))
			}
			if len(is) == 0 && !e.quiet {
				e.printf("no incidents in the log\n")
			}
			return nil
		},
	}
	list.Flags().BoolVar(&pull, "pull", false, "first fetch the incidents filed at daemon sites")
	return list
}
