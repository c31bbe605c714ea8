package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func cmdSiteEvents(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "events [SITE...]",
		Short: "Pull host-side sessions and disclosures from daemon sites into the transparency log",
		Long: `Fetch the access events each embassy daemon site keeps (sessions opened by
host personnel with operator certificates, refused requests, and access
disclosures they filed with POST /v1/disclosures) and record the new ones in
the home's transparency log: disclosures as disclosure entries, host sessions
and refusals as session entries. 'embassy disclosures' then measures each
disclosure's delay and raises an alert for a host session that no disclosure
explains.`,
		Example: `  embassy site events
  embassy site events lu-1 && embassy disclosures`,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			want := map[string]bool{}
			for _, a := range args {
				want[a] = true
			}
			type result struct {
				Site        string `json:"site"`
				Sessions    int    `json:"sessions"`
				Disclosures int    `json:"disclosures"`
				Error       string `json:"error,omitempty"`
			}
			var results []result
			for _, sc := range h.Config.Sites {
				if len(want) > 0 && !want[sc.Name] {
					continue
				}
				if !strings.HasPrefix(sc.URL, "embassy://") && !strings.HasPrefix(sc.URL, "https://") {
					if want[sc.Name] {
						return hint.WithCode(fmt.Errorf("site %s is not an embassy daemon site", sc.Name), hint.CodeUsage)
					}
					continue
				}
				res := result{Site: sc.Name}
				ss, ds, err := e.pullEvents(h, sc)
				res.Sessions, res.Disclosures = ss, ds
				if err != nil {
					res.Error = err.Error()
					e.warnf("site %s: %v", sc.Name, err)
				}
				results = append(results, res)
			}
			if e.json {
				if results == nil {
					results = []result{}
				}
				return e.emitJSON(results)
			}
			for _, r := range results {
				if r.Error == "" {
					e.printf("%s: %d new host sessions, %d new disclosures recorded\n", r.Site, r.Sessions, r.Disclosures)
				}
			}
			return nil
		},
	}
	return c
}

// pullEvents records a daemon site's new events in the log and advances
// the site's cursor (<home>/log/cursors/SITE).
func (e *env) pullEvents(h *home.Home, sc home.SiteConfig) (sessions, disclosures int, err error) {
	b, err := location.Open(e.ctx, sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, e.locationOptions(h))
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	rb := daemonOf(b)
	if rb == nil {
		return 0, 0, fmt.Errorf("not an embassy daemon site")
	}
	evs, err := rb.Events(e.ctx)
	if err != nil {
		return 0, 0, err
	}
	cursorFile := filepath.Join(logDir(h), "cursors", sc.Name)
	var since time.Time
	if b, err := os.ReadFile(cursorFile); err == nil {
		since, _ = time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	}
	last := since
	for _, ev := range evs {
		if !ev.Time.After(since) {
			continue
		}
		var ent tlog.Entry
		switch {
		case ev.Kind == "disclosure" && ev.Disclosure != nil:
			ent = disclosureEntry(sc.Name, ev.Disclosure, ev.Identity, ev.Time)
			if verr := ent.Validate(); verr != nil {
				// A malformed disclosure is kept as an unexplained host session.
				ent = tlog.Entry{Kind: tlog.KindSession, Site: sc.Name, Actor: ev.Identity, Time: ev.Time,
					Details: map[string]string{tlog.DetailInitiator: "host", "event": "invalid-disclosure", "detail": verr.Error(),
						tlog.DetailAt: ev.Time.Format(time.RFC3339Nano)}}
				sessions++
				break
			}
			disclosures++
		case ev.Role == "operator" || ev.Kind == "denied":
			ent = tlog.Entry{Kind: tlog.KindSession, Site: sc.Name, Actor: ev.Identity, Time: ev.Time,
				Details: map[string]string{tlog.DetailInitiator: "host", "event": ev.Kind, "role": ev.Role, "detail": ev.Detail,
					tlog.DetailAt: ev.Time.Format(time.RFC3339Nano)}}
			sessions++
		default:
			if ev.Time.After(last) {
				last = ev.Time
			}
			continue // the home's own sessions
		}
		if err := e.record(h, ent); err != nil {
			return sessions, disclosures, err
		}
		if ev.Time.After(last) {
			last = ev.Time
		}
		if err := os.MkdirAll(filepath.Dir(cursorFile), 0o700); err == nil {
			_ = atomicfile.Write(cursorFile, []byte(last.Format(time.RFC3339Nano)+"\n"), 0o600)
		}
	}
	if last.After(since) {
		_ = os.MkdirAll(filepath.Dir(cursorFile), 0o700)
		_ = atomicfile.Write(cursorFile, []byte(last.Format(time.RFC3339Nano)+"\n"), 0o600)
	}
	return sessions, disclosures, nil
}

// disclosureEntry is the log entry of a disclosure filed at a daemon.
func disclosureEntry(siteName string, d *api.Disclosure, filedBy string, filed time.Time) tlog.Entry {
	access := d.Access
	if access == "" {
		access = "console"
	}
	ent := tlog.Entry{V: tlog.Version, Kind: tlog.KindDisclosure, Time: filed.UTC(), Site: siteName, Actor: d.Who, Object: d.What, Reason: d.Reason,
		Details: map[string]string{tlog.DetailAccess: access, tlog.DetailAt: d.At.Format(time.RFC3339Nano), "filed_by": filedBy, "via": "daemon"}}
	if d.Ticket != "" {
		ent.Details[tlog.DetailTicket] = d.Ticket
	}
	return ent
}
