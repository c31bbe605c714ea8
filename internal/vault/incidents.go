package vault

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/notify"
)

// Incident records (framework requirement 23). An incident reaches the
// home's log two ways: recorded at home ('embassy incident file', a host
// reporting by phone or mail), or filed by host personnel at a site's
// daemon and pulled (PullIncidents). The entry's time is its arrival at
// the home; the sending state acknowledges it (AckIncident) within the
// site's agreement's operations.incident-notification-hours, or it is
// escalated (EscalateIncidents): an alert through the watcher's routes
// (<home>/watch.yaml: webhooks, mail) and a log entry, once per incident.

// IncidentFiled is the outcome of FileIncident.
type IncidentFiled struct {
	Index   uint64        `json:"index"`
	Site    string        `json:"site"`
	Type    string        `json:"type"`
	Delay   time.Duration `json:"delay_ns"`   // from occurrence to arrival
	Allowed time.Duration `json:"allowed_ns"` // the site's notification hours
	Late    bool          `json:"late"`
}

// FileIncident records an incident a host reported at home.
func (v *Vault) FileIncident(ctx context.Context, f incident.Filing) (IncidentFiled, error) {
	if sc, _ := v.Home.Site(f.Site); sc == nil && f.Site != "" {
		return IncidentFiled{}, hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", f.Site), "see 'embassy site list'"), hint.CodeUsage)
	}
	ent, err := f.Entry()
	if err != nil {
		return IncidentFiled{}, hint.WithCode(err, hint.CodeUsage)
	}
	idx, _, err := v.Recorder().AppendIndex(ctx, ent)
	if err != nil {
		return IncidentFiled{}, err
	}
	res := IncidentFiled{Index: idx, Site: f.Site, Type: f.Type, Delay: v.Now().Sub(f.Occurred), Allowed: IncidentHours(v.Home)(f.Site)}
	res.Late = res.Delay > res.Allowed
	return res, nil
}

// Incidents reads every incident from the log at the vault's clock.
func (v *Vault) Incidents(ctx context.Context) ([]incident.Incident, error) {
	ents, err := v.logEntries(ctx)
	if err != nil {
		return nil, err
	}
	return incident.Status(ents, v.Now(), IncidentHours(v.Home)), nil
}

// AckIncident records the sending state's acknowledgement of the incident
// at log index n and returns the acknowledgement's index. For an incident
// filed at a daemon it signs the acknowledgement with the home's access
// key and pushes it there, so the host sees it; a failed push is warned
// about and retried by the next PullIncidents.
func (v *Vault) AckIncident(ctx context.Context, n uint64, note string) (incident.Incident, uint64, error) {
	is, err := v.Incidents(ctx)
	if err != nil {
		return incident.Incident{}, 0, err
	}
	i := slices.IndexFunc(is, func(in incident.Incident) bool { return in.Index == n })
	if i < 0 {
		return incident.Incident{}, 0, hint.WithCode(hint.Wrap(fmt.Errorf("no incident at log index %d", n), "see 'embassy incident list'"), hint.CodeUsage)
	}
	in := is[i]
	if !in.Acked.IsZero() {
		return in, 0, hint.WithCode(fmt.Errorf("incident %d was acknowledged already (entry %d)", n, in.AckIndex), hint.CodeUsage)
	}
	idx, _, err := v.Recorder().AppendIndex(ctx, incident.AckEntry(n, in.Site, note))
	if err != nil || in.ID == "" {
		return in, idx, err
	}
	if is, err = v.Incidents(ctx); err == nil { // the acknowledgement's time, as logged
		if j := slices.IndexFunc(is, func(x incident.Incident) bool { return x.Index == n }); j >= 0 {
			in = is[j]
		}
	}
	if err := v.pushIncidentAck(ctx, nil, in); err != nil {
		v.Warnf("incident %d: the acknowledgement is logged but did not reach %s's daemon (retried by 'embassy incident list --pull'): %v", n, in.Site, err)
	}
	return in, idx, nil
}

// signedIncidentAck is the signed note of the logged acknowledgement of in
// (an incident filed at a daemon): the same entry always signs the same
// text.
func (v *Vault) signedIncidentAck(in incident.Incident) ([]byte, error) {
	signer, _, err := v.AccessKey()
	if err != nil {
		return nil, err
	}
	return incident.Ack{Home: v.Home.Config.Home, Site: in.Site, Incident: in.ID, At: in.Acked.UTC().Truncate(time.Second)}.Sign(signer)
}

// pushIncidentAck delivers the acknowledgement of in to d, or to its
// site's daemon when d is nil.
func (v *Vault) pushIncidentAck(ctx context.Context, d hostDesk, in incident.Incident) error {
	if in.Acked.IsZero() {
		return fmt.Errorf("incident %d is not acknowledged", in.Index)
	}
	msg, err := v.signedIncidentAck(in)
	if err != nil {
		return err
	}
	push := func(d hostDesk) error {
		_, err := d.PushIncidentAck(ctx, in.ID, msg)
		return err
	}
	if d == nil {
		return v.pushTo(ctx, in.Site, push)
	}
	return push(d)
}

// IncidentPull is what PullIncidents brought in.
type IncidentPull struct {
	New []incident.Incident `json:"new"`
	// AcksPushed: acknowledgements delivered now to daemons that did not
	// show them yet.
	AcksPushed []incident.Incident `json:"acks_pushed"`
	Invalid    int                 `json:"invalid"`
	Errors     []string            `json:"errors,omitempty"`
}

// PullIncidents fetches the incidents filed at the daemon sites and
// records each new one (per site and id) as it reaches the home, and
// pushes each logged acknowledgement a daemon does not show yet. The site
// of an entry is the site pulled from, so no daemon can file for, or
// shadow, another site's incidents; a malformed record is logged as an
// unexplained host session.
func (v *Vault) PullIncidents(ctx context.Context) (IncidentPull, error) {
	out := IncidentPull{New: []incident.Incident{}, AcksPushed: []incident.Incident{}}
	for _, sc := range v.Home.Config.Sites {
		if sc.Member || !IsDaemonSite(sc) && v.open == nil {
			continue // only daemons take filings (tests bring their own sites)
		}
		err := v.withDesk(ctx, sc, func(d hostDesk) error {
			recs, err := d.Incidents(ctx)
			if err != nil {
				return err
			}
			have, err := v.Incidents(ctx)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			acked := map[string]incident.Incident{}
			for _, in := range have {
				if in.Site == sc.Name && in.ID != "" {
					seen[in.ID] = true
					if !in.Acked.IsZero() {
						acked[in.ID] = in
					}
				}
			}
			var invalid []string
			if len(recs) > maxHostRecords {
				invalid = append(invalid, fmt.Sprintf("the daemon returned %d incidents, more than any daemon holds; the first %d were read", len(recs), maxHostRecords))
				recs = recs[:maxHostRecords]
			}
			defer func() {
				if len(invalid) > 0 {
					out.Invalid += len(invalid)
					v.hostSession(ctx, sc.Name, "invalid-incident", invalid)
				}
			}()
			for _, r := range recs {
				ent, err := incident.HostEntry(sc.Name, r)
				if err == nil {
					err = r.Check()
				}
				if err != nil {
					invalid = append(invalid, err.Error())
					continue
				}
				if seen[r.ID] {
					if in, ok := acked[r.ID]; ok && r.Acknowledged.IsZero() {
						if err := v.pushIncidentAck(ctx, d, in); err != nil {
							v.Warnf("incident %d: the acknowledgement did not reach %s's daemon: %v", in.Index, sc.Name, err)
						} else {
							out.AcksPushed = append(out.AcksPushed, in)
						}
					}
					continue
				}
				seen[r.ID] = true
				idx, _, err := v.Recorder().AppendIndex(ctx, ent)
				if err != nil {
					return err
				}
				out.New = append(out.New, incident.Incident{Index: idx, Site: sc.Name, Type: r.Type, Reporter: r.Reporter, What: r.What,
					Occurred: r.Occurred, Notified: v.Now(), Allowed: IncidentHours(v.Home)(sc.Name), ID: r.ID, FiledBy: r.FiledBy})
			}
			return nil
		})
		if err != nil && !errors.Is(err, errNotDesk) {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", sc.Name, err))
			v.Warnf("site %s: incidents not pulled: %v", sc.Name, err)
		}
	}
	return out, nil
}

// IncidentAlertKind is the watcher's alert kind of an escalation.
const IncidentAlertKind = "incident-unacknowledged"

// Escalation is what EscalateIncidents did.
type Escalation struct {
	Escalated []incident.Incident `json:"escalated"` // newly escalated now
	NotifyErr string              `json:"notify_error,omitempty"`
}

// EscalateIncidents escalates every incident past its hours without an
// acknowledgement that has not been escalated yet: an escalation entry in
// the log first, then one alert per site through the routes of
// <home>/watch.yaml. A failed delivery is reported, not returned: the
// entries stand and the alert is not sent again (the log shows it).
func (v *Vault) EscalateIncidents(ctx context.Context) (Escalation, error) {
	out := Escalation{Escalated: []incident.Incident{}}
	is, err := v.Incidents(ctx)
	if err != nil {
		return out, err
	}
	bySite := map[string][]incident.Incident{}
	var sites []string
	for _, in := range is {
		if !in.Escalated || in.EscalatedAt != 0 || !in.Acked.IsZero() {
			continue
		}
		if err := v.Recorder().Append(ctx, incident.EscalationEntry(in.Index, in.Site, in.Allowed)); err != nil {
			return out, err
		}
		out.Escalated = append(out.Escalated, in)
		if bySite[in.Site] == nil {
			sites = append(sites, in.Site)
		}
		bySite[in.Site] = append(bySite[in.Site], in)
	}
	if len(sites) == 0 {
		return out, nil
	}
	router, err := notify.Load(filepath.Join(v.Home.Dir, WatchConfigFile))
	if err != nil {
		out.NotifyErr = err.Error()
		return out, nil
	}
	now := v.Now()
	for _, s := range sites {
		var idx []string
		oldest := now
		for _, in := range bySite[s] {
			idx = append(idx, fmt.Sprint(in.Index))
			if in.Notified.Before(oldest) {
				oldest = in.Notified
			}
		}
		allowed := bySite[s][0].Allowed
		router.Add(watch.Alert{Time: now, Kind: IncidentAlertKind, Site: watch.Clean(s), Unit: "hours",
			Baseline: allowed.Hours(), Observed: now.Sub(oldest).Hours(),
			Why: watch.Clean(fmt.Sprintf("incidents %s at site %s were not acknowledged within the agreement's %s; acknowledge with 'embassy incident ack INDEX'",
				strings.Join(idx, ", "), s, allowed))})
	}
	router.GroupWait = time.Nanosecond
	if _, err := router.Flush(ctx, now.Add(time.Second)); err != nil {
		out.NotifyErr = err.Error()
		v.Warnf("incident escalation: %v", err)
	}
	return out, nil
}
