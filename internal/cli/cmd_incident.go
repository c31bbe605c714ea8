package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/vault"
)

// incidentHours gives each site's operations.incident-notification-hours:
// its agreement's, or the baseline's.
func incidentHours(h *home.Home) func(site string) time.Duration { return vault.IncidentHours(h) }

// incidents reads every incident from the home's log.
func (e *env) incidents(h *home.Home) ([]incident.Incident, error) {
	r, _, err := e.readLog(h)
	if err != nil {
		return nil, err
	}
	_, ents, err := r.All(e.ctx)
	if err != nil {
		return nil, err
	}
	return incident.Status(ents, e.now(), incidentHours(h)), nil
}

func cmdIncident(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "incident",
		Short: "File, acknowledge and list host incident records",
		Long: `Hosts owe the sending state structured incident records (security,
availability, physical, legal-process) within the hours their agreement
sets (operations.incident-notification-hours). 'incident file' records one
in the transparency log as it reaches the home; the sending state
acknowledges it with 'incident ack'; 'incident list' shows each with its
delays and escalates (exit 3) every incident notified late or not
acknowledged within the hours after it arrived.`,
	}
	var f incident.Filing
	var occurred string
	file := &cobra.Command{
		Use:   "file --site S --type T --reporter WHO --what WHAT --occurred TIME",
		Short: "Record an incident a host reported",
		Example: `  embassy incident file --site lu-1 --type physical --reporter "LU GITC duty officer" \
      --what "UPS fire in hall B, racks powered down" --occurred 2026-11-25T03:10:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if occurred == "" {
				return usagef("give --occurred: when the incident happened at the site (RFC 3339, or a duration ago such as 3h)")
			}
			at, err := parseWhen(occurred, e.now())
			if err != nil {
				return err
			}
			f.Occurred = at
			if sc, _ := h.Site(f.Site); sc == nil && f.Site != "" {
				return hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", f.Site), "see 'embassy site list'"), hint.CodeUsage)
			}
			ent, err := f.Entry()
			if err != nil {
				return usagef("%v", err)
			}
			idx, _, err := e.recordIndex(h, ent)
			if err != nil {
				return err
			}
			allowed := incidentHours(h)(f.Site)
			delay := e.now().Sub(f.Occurred)
			e.printf("Logged incident %d: %s at %s, %s after it occurred (allowed %s); acknowledge with 'embassy incident ack %d'\n",
				idx, f.Type, f.Site, delay.Round(time.Second), allowed, idx)
			if delay > allowed {
				e.warnf("incident %d reached the home %s after it occurred; the agreement allows %s", idx, delay.Round(time.Second), allowed)
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
			is, err := e.incidents(h)
			if err != nil {
				return err
			}
			for _, in := range is {
				if in.Index != n {
					continue
				}
				if !in.Acked.IsZero() {
					return hint.WithCode(fmt.Errorf("incident %d was acknowledged already (entry %d)", n, in.AckIndex), hint.CodeUsage)
				}
				idx, _, err := e.recordIndex(h, incident.AckEntry(n, in.Site, note))
				if err != nil {
					return err
				}
				e.printf("Acknowledged incident %d at %s: entry %d\n", n, in.Site, idx)
				return nil
			}
			return hint.WithCode(hint.Wrap(fmt.Errorf("no incident at log index %d", n), "see 'embassy incident list'"), hint.CodeUsage)
		},
	}
	ack.Flags().StringVar(&note, "note", "", "what the sending state did about it")
	list := &cobra.Command{
		Use:   "list",
		Short: "List incidents with their delays; escalate overdue ones (exit 3)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			is, err := e.incidents(h)
			if err != nil {
				return err
			}
			for _, in := range is {
				if in.Late || in.Escalated {
					e.warned = true
				}
			}
			if e.json {
				if is == nil {
					is = []incident.Incident{}
				}
				return e.emitJSON(is)
			}
			for _, in := range is {
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
				e.printf("%d  %s  %s  %s: notified %s after it occurred%s; %s\n", in.Index, in.Site, in.Type, in.What,
					in.Notified.Sub(in.Occurred).Round(time.Second), late, state)
			}
			if len(is) == 0 && !e.quiet {
				e.printf("no incidents in the log\n")
			}
			return nil
		},
	}
	c.AddCommand(file, ack, list)
	return c
}
