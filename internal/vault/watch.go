package vault

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/notify"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

// The watcher's files in the home.
const (
	WatchConfigFile = "watch.yaml"       // notification routes (notify.Load)
	WatchStateFile  = "watch/state.json" // what the watcher already reported
)

// WatchCycle is what one evaluation of 'embassy watch' found.
type WatchCycle struct {
	// Alerts are the new alerts, in the order they were found; every one
	// routed to a person is already in the transparency log.
	Alerts []watch.Alert
	// Overdue are the open exits past their deadline (new or not).
	Overdue []OpenExit
	// Metrics is what the cycle measured (watchman.Exporter.Update).
	Metrics watchman.Snapshot
	// NotifyErr is a failed delivery: the alerts are logged and the state
	// saved, so it is reported, not returned.
	NotifyErr error
}

// Watch runs one evaluation of the watcher over the home at the vault's
// clock: it replays the verified log through the anomaly detector,
// forwards protect's RPO alerts, disclosure alerts measured against each
// site's agreement deadline, witness refusals, agreements near or past
// the end of their term, and exits past their deadline (CheckExits).
// New alerts are logged (kind "alert") before anyone is notified, then
// the state is saved and the routes of <home>/watch.yaml are flushed.
func (v *Vault) Watch(ctx context.Context) (*WatchCycle, error) {
	h := v.Home
	router, err := notify.Load(filepath.Join(h.Dir, WatchConfigFile))
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "fix <home>/watch.yaml; 'embassy watch --help' shows its fields"), hint.CodeUsage)
	}
	rc := v.Recorder()
	rd, err := rc.Reader()
	if err != nil {
		return nil, err
	}
	_, ents, err := rd.All(ctx)
	if err != nil && !errors.Is(err, tlog.ErrEmpty) {
		return nil, hint.WithCode(hint.Wrap(err, "the log or its checkpoint was altered; run 'embassy audit check'"), hint.CodeDamaged)
	}
	statePath := filepath.Join(h.Dir, filepath.FromSlash(WatchStateFile))
	st, err := watchman.LoadState(statePath)
	if err != nil {
		return nil, err
	}
	now := v.Now()
	in := watchman.Input{Entries: ents, ProtectAlerts: filepath.Join(h.Dir, SiteAlertsFile), Now: now, Agreements: map[string]time.Time{}}
	base := agreement.DefaultBaseline()
	ias, err := LoadAgreements(h, base)
	if err != nil {
		return nil, err
	}
	for _, ia := range ias {
		in.Agreements[ia.ID] = ia.StatusAt(now, base).Expires
	}
	deadline, err := DisclosureDeadlines(h, tlog.DefaultAllowed)
	if err != nil {
		return nil, err
	}
	in.Disclosures = tlog.Disclosures(ents, tlog.DisclosureOptions{Allowed: deadline, Now: now}).Alerts
	was, _ := tlog.ReadAlerts(filepath.Join(rc.Dir, tlog.AlertsFile))
	for _, w := range was {
		in.WitnessAlerts = append(in.WitnessAlerts, watchman.WitnessAlert(w.Time, w.Kind, w.URL))
	}
	// Exits first: CheckExits records an overdue exit's alert once, in
	// <home>/alerts.jsonl.
	overdue, err := v.CheckExits()
	if err != nil {
		return nil, err
	}
	fresh, next, err := watchman.Cycle(in, st)
	if err != nil {
		return nil, err
	}
	// Overdue exits raised since the last cycle, by this cycle's
	// CheckExits or by 'embassy exit status', are the lines of
	// alerts.jsonl this cycle read past those already watched.
	exits, err := exitAlerts(in.ProtectAlerts, st.AlertLines, next.AlertLines, overdue, now)
	if err != nil {
		return nil, err
	}
	fresh = append(fresh, exits...)
	var logged []tlog.Entry
	for _, a := range fresh {
		if router.Add(a) {
			logged = append(logged, watchman.Entry(a, now))
		}
	}
	// The alerts are in the log before anyone is told, so that a
	// notification always has an entry to point to.
	if err := rc.Append(ctx, logged...); err != nil {
		return nil, hint.Wrap(err, "the alerts could not be logged; nothing was sent, the next cycle tries again")
	}
	next.Updated = now
	if err := watchman.SaveState(statePath, next); err != nil {
		return nil, err
	}
	out := &WatchCycle{Alerts: fresh, Overdue: overdue, Metrics: watchman.Measure(in, fresh, now)}
	router.GroupWait = time.Nanosecond // a cycle delivers what it found; grouping is per cycle
	if _, err := router.Flush(ctx, now); err != nil {
		out.NotifyErr = err
	}
	return out, nil
}

// exitAlerts reads the exit-overdue records of <home>/alerts.jsonl in its
// lines skip+1 to upto (the lines this cycle read and the last did not).
func exitAlerts(path string, skip, upto int64, open []OpenExit, now time.Time) ([]watch.Alert, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	byName := map[string]OpenExit{}
	for _, oe := range open {
		byName[oe.Site] = oe
	}
	sc := bufio.NewScanner(io.LimitReader(f, 256<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []watch.Alert
	for n := int64(1); n <= upto && sc.Scan(); n++ {
		if n <= skip {
			continue
		}
		var rec struct {
			Kind     string    `json:"kind"`
			Site     string    `json:"site"`
			Time     time.Time `json:"time"`
			Deadline time.Time `json:"deadline"`
			Message  string    `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Kind != ExitOverdueKind {
			continue
		}
		a := watch.Alert{Time: rec.Time, Kind: ExitOverdueKind, Site: watch.Clean(rec.Site), Why: watch.Clean(rec.Message), Unit: "days"}
		if oe, ok := byName[rec.Site]; ok {
			a = ExitAlert(oe, now)
			a.Time = rec.Time
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// ExitAlert is the watcher's alert for an exit past its deadline: the
// baseline is the days the agreement allowed, the observed value the days
// since the exit began.
func ExitAlert(oe OpenExit, now time.Time) watch.Alert {
	return watch.Alert{Time: now, Kind: ExitOverdueKind, Site: watch.Clean(oe.Site),
		Why: fmt.Sprintf("the exit from site %s began %s and is not complete: the agreement allowed %s (deadline %s)",
			watch.Clean(oe.Site), oe.Started.UTC().Format(time.DateOnly), nouns(oe.Days, "day"), oe.Deadline.UTC().Format(time.RFC3339)),
		Baseline: float64(oe.Days), Observed: float64(int(now.Sub(oe.Started).Hours() / 24)), Unit: "days"}
}

// SiteEventsResult is what one daemon site's events added to the log.
type SiteEventsResult struct {
	Site        string `json:"site"`
	Sessions    int    `json:"sessions"`
	Disclosures int    `json:"disclosures"`
	Error       string `json:"error,omitempty"`
}

// IsDaemonSite reports whether a site is reached through an embassy
// daemon (embassy:// or https://), which keeps access events.
func IsDaemonSite(sc home.SiteConfig) bool {
	return strings.HasPrefix(sc.URL, "embassy://") || strings.HasPrefix(sc.URL, "https://")
}

// SiteEvents pulls the host-side events of the named daemon sites (all
// daemon sites if none is named) into the log ('embassy site events').
// A named site that is not a daemon site is a usage error; a site that
// fails is reported in its result and warned of, and the others go on.
func (v *Vault) SiteEvents(ctx context.Context, names ...string) ([]SiteEventsResult, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := []SiteEventsResult{}
	for _, sc := range v.Home.Config.Sites {
		if len(want) > 0 && !want[sc.Name] {
			continue
		}
		if !IsDaemonSite(sc) {
			if want[sc.Name] {
				return nil, hint.WithCode(fmt.Errorf("site %s is not an embassy daemon site", sc.Name), hint.CodeUsage)
			}
			continue
		}
		res := SiteEventsResult{Site: sc.Name}
		var err error
		res.Sessions, res.Disclosures, err = v.pullEvents(ctx, sc)
		if err != nil {
			res.Error = err.Error()
			v.Warnf("site %s: %v", sc.Name, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// pullEvents records a daemon site's new events in the log and advances
// the site's cursor (<home>/log/cursors/SITE). Every event is written by
// the host: a malformed disclosure is kept as an unexplained host session,
// and the home's own sessions are skipped.
func (v *Vault) pullEvents(ctx context.Context, sc home.SiteConfig) (sessions, disclosures int, err error) {
	b, err := v.Backend(ctx, sc, false)
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	rb := DaemonOf(b)
	if rb == nil {
		return 0, 0, fmt.Errorf("not an embassy daemon site")
	}
	evs, err := rb.Events(ctx)
	if err != nil {
		return 0, 0, err
	}
	cursorFile := filepath.Join(LogDir(v.Home), "cursors", sc.Name)
	var since time.Time
	if b, err := os.ReadFile(cursorFile); err == nil {
		since, _ = time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	}
	save := func(t time.Time) {
		if err := os.MkdirAll(filepath.Dir(cursorFile), 0o700); err == nil {
			_ = atomicfile.Write(cursorFile, []byte(t.Format(time.RFC3339Nano)+"\n"), 0o600)
		}
	}
	last := since
	for _, ev := range evs {
		if !ev.Time.After(since) {
			continue
		}
		var ent tlog.Entry
		switch {
		case ev.Kind == "disclosure" && ev.Disclosure != nil:
			ent = DaemonDisclosureEntry(sc.Name, ev.Disclosure, ev.Identity, ev.Time)
			if verr := ent.Validate(); verr != nil {
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
		if err := v.Recorder().Append(ctx, ent); err != nil {
			return sessions, disclosures, err
		}
		if ev.Time.After(last) {
			last = ev.Time
		}
		save(last)
	}
	if last.After(since) {
		save(last)
	}
	return sessions, disclosures, nil
}

// DaemonDisclosureEntry is the log entry of a disclosure filed at a daemon.
func DaemonDisclosureEntry(siteName string, d *api.Disclosure, filedBy string, filed time.Time) tlog.Entry {
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
