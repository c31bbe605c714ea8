package cli

import (
	"github.com/spf13/cobra"
)

// The decisions (validation, delays, acknowledgement rules, escalation
// and its alerts) are the vault's (internal/vault/incidents.go); these
// commands parse flags and print.

func cmdIncident(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "incident",
		Short: "File, acknowledge and list host incident records",
		Long: `Hosts owe the sending state structured incident records (security,
availability, physical, legal-process) within the hours their agreement
sets (operations.incident-notification-hours). 'incident file' records one
in the transparency log as it reaches the home; host personnel may file
them at the site's daemon instead (POST /v1/incidents), from where
'incident list --pull' brings them in. The sending state acknowledges an
incident with 'incident ack'; 'incident list' shows each with its delays,
escalates every incident not acknowledged within the hours after it
arrived (a log entry and an alert through the routes of watch.yaml, once
each) and exits 3 while any is late or escalated.`,
	}
	c.AddCommand(cmdIncidentFile(e), cmdIncidentAck(e), cmdIncidentList(e))
	return c
}
