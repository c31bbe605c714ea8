package cli

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/incident"
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

func cmdIncidentAck(e *env) *cobra.Command {
	var note string
	ack := &cobra.Command{
		Use:   "ack INDEX --note TEXT",
		Short: "Acknowledge an incident (the sending state)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usagef("INDEX %q: the incident's log index, as 'embassy incident list' shows it", args[0])
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			in, idx, err := e.vaultOf(h).AckIncident(e.ctx, n, note)
			if err != nil {
				return err
			}
			e.printf("Acknowledged incident %d at %s: entry %d\n", n, in.Site, idx)
			return nil
		},
	}
	ack.Flags().StringVar(&note, "note", "", "what the sending state did about it")
	return ack
}

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

func incidentLine(in incident.Incident) string {
	state := "acknowledged " + in.Acked.UTC().Format("2006-01-02 15:04")
	if in.Acked.IsZero() {
		state = "awaiting acknowledgement"
	}
	if in.Escalated {
		state += "; ESCALATED: not acknowledged within " + in.Allowed.String()
	}
	late := ""
	if in.Late {
		late = " (LATE)"
	}
	return strconv.FormatUint(in.Index, 10) + "  " + in.Site + "  " + in.Type + "  " + termSafe(in.What) + ": notified " +
		in.Notified.Sub(in.Occurred).Round(time.Second).String() + " after it occurred" + late + "; " + state
}
