package vault

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

// The host-facing checks on the home's schedule: what 'embassy access
// pull', 'incident list --pull', 'update check', 'sla probe', 'compute
// check' and 'site locate' do when a person types them, run by 'embassy
// protect' on protect.yaml's schedule (host, updates, sla, compute,
// location). A job whose feature this home does not use reports "not
// configured" and raises nothing. Each condition found is alerted once
// (JobState.Raise) until it clears.

// Alert kinds of the host-facing jobs.
const (
	AlertAccessPending  = "access-request-pending"
	AlertHostPull       = "host-pull-failed"
	AlertUpdate         = "update-unapproved"
	AlertSiteDown       = "sla-site-down"
	AlertComputeBreach  = "compute-breach"
	AlertLocationFailed = "location-check-failed"
)

// notConfigured is the summary of a job whose feature is not in use.
const notConfigured = "not configured: "

// hostJobs are the host-facing jobs protect.yaml's schedule turns on.
func (v *Vault) hostJobs(sc protect.Schedule) []Job {
	var jobs []Job
	add := func(iv protect.Interval, name string, run func(context.Context, time.Time, *JobState) (*JobReport, error)) {
		if !iv.Off {
			jobs = append(jobs, Job{Name: name, Every: iv.Every, Run: run})
		}
	}
	add(sc.Host, tlog.JobHost, v.hostJob)
	add(sc.Updates, tlog.JobUpdates, v.updatesJob)
	add(sc.SLA, tlog.JobSLA, v.slaJob)
	add(sc.Compute, tlog.JobCompute, v.computeJob)
	loc := sc.Location
	add(loc.Interval, tlog.JobLocation, func(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
		return v.locationJob(ctx, slot, loc, st)
	})
	return jobs
}

// deskSites are the sites that take host filings: the daemon sites (and,
// in tests, sites whose backend is a desk).
func (v *Vault) deskSites(ctx context.Context) []string {
	var out []string
	for _, sc := range v.Home.Config.Sites {
		switch {
		case sc.Member:
		case IsDaemonSite(sc):
			out = append(out, sc.Name)
		case v.open != nil:
			if b, err := v.Backend(ctx, sc, false); err == nil {
				if deskOf(b) != nil {
					out = append(out, sc.Name)
				}
				b.Close()
			}
		}
	}
	return out
}

// raiseAll turns the conditions found (by key) into alerts, each once
// until it clears, and forgets those that cleared.
func raiseAll(st *JobState, slot time.Time, found map[string]watch.Alert, rep *JobReport) {
	keep := map[string]bool{}
	keys := make([]string, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		keep[k] = true
		rep.OK = false
		if st.Raise(k, slot) {
			a := found[k]
			a.Time = slot
			a.Site, a.Why = watch.Clean(a.Site), watch.CleanN(a.Why, watch.MaxLine) // the whole explanation, not one field's 128 bytes
			rep.Alerts = append(rep.Alerts, a)
		}
	}
	st.Clear(keep)
}

// pullFailures are the per-site errors of a pull ("SITE: error").
func pullFailures(what string, errs []string, found map[string]watch.Alert) {
	for _, e := range errs {
		s, why, _ := strings.Cut(e, ": ")
		found["pull|"+s] = watch.Alert{Kind: AlertHostPull, Site: s, Unit: "site",
			Why: fmt.Sprintf("site %s: %s not pulled: %s; check the daemon and the link ('embassy site doctor %s')", s, what, why, s)}
	}
}

// hostJob pulls the access requests and incidents host personnel filed
// at the daemons, pushes logged decisions, and escalates incidents past
// their agreement's hours (requirements 22 and 23). A request waiting
// for the sending state's decision is alerted; an escalation is alerted
// by EscalateIncidents itself through watch.yaml's routes.
func (v *Vault) hostJob(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
	if len(v.deskSites(ctx)) == 0 {
		return &JobReport{OK: true, Summary: notConfigured + "no daemon sites take host filings"}, nil
	}
	acc, err := v.PullAccess(ctx)
	if err != nil {
		return nil, err
	}
	inc, err := v.PullIncidents(ctx)
	if err != nil {
		return nil, err
	}
	esc, err := v.EscalateIncidents(ctx)
	if err != nil {
		return nil, err
	}
	rep := &JobReport{OK: true}
	found := map[string]watch.Alert{}
	pullFailures("access requests", acc.Errors, found)
	pullFailures("incidents", inc.Errors, found)
	pending := 0
	reqs, err := v.AccessRequests(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if r.Status != approval.Pending {
			continue
		}
		pending++
		found["access|"+strconv.FormatUint(r.Index, 10)] = watch.Alert{Kind: AlertAccessPending, Site: r.Site, Unit: "request",
			Why: fmt.Sprintf("site %s: host access request %d waits for a decision ('embassy access approve %d' or 'embassy access deny %d')", r.Site, r.Index, r.Index, r.Index)}
	}
	raiseAll(st, slot, found, rep)
	if len(esc.Escalated) > 0 || esc.NotifyErr != "" {
		rep.OK = false
	}
	rep.Summary = fmt.Sprintf("%s, %d pending, %s pushed; %s, %d escalated",
		nouns(len(acc.New), "new access request"), pending, nouns(len(acc.Pushed), "decision"), nouns(len(inc.New), "new incident"), len(esc.Escalated))
	if n := len(acc.Errors) + len(inc.Errors); n > 0 {
		rep.Summary += fmt.Sprintf("; %s failed", nouns(n, "pull"))
	}
	if esc.NotifyErr != "" {
		rep.Summary += "; escalation not delivered: " + esc.NotifyErr
	}
	rep.Details = map[string]string{"access_new": strconv.Itoa(len(acc.New)), "access_pending": strconv.Itoa(pending),
		"incidents_new": strconv.Itoa(len(inc.New)), "escalated": strconv.Itoa(len(esc.Escalated)),
		"invalid": strconv.Itoa(acc.Invalid + inc.Invalid)}
	return rep, nil
}

// updatesJob compares the build each daemon runs with the approved set
// (requirement 16): an unapproved, revoked or expired build, or a daemon
// that does not answer, is alerted.
func (v *Vault) updatesJob(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
	daemons := 0
	for _, sc := range v.Home.Config.Sites {
		if IsDaemonSite(sc) {
			daemons++
		}
	}
	if daemons == 0 {
		return &JobReport{OK: true, Summary: notConfigured + "no daemon sites"}, nil
	}
	set, err := v.Updates()
	if err != nil {
		return nil, err
	}
	if len(set.Approvals) == 0 && len(set.Revoked) == 0 {
		return &JobReport{OK: true, Summary: notConfigured + "no update approvals ('embassy update approve')"}, nil
	}
	checks, err := v.CheckUpdates(ctx)
	if err != nil {
		return nil, err
	}
	rep := &JobReport{OK: true, Details: map[string]string{}}
	found := map[string]watch.Alert{}
	var states []string
	for _, c := range checks {
		states = append(states, c.Site+": "+c.Status)
		rep.Details[c.Site] = c.Status + " " + c.Digest
		if c.Status == "approved" {
			continue
		}
		// The finding names the build ("embassyd digest 0123…: ..."); one
		// that names its way out gives the whole digest there: the alert
		// names it once.
		detail := c.Detail
		if what, rest, ok := strings.Cut(detail, ": "); ok && strings.HasPrefix(what, c.Artifact+" digest ") && strings.Contains(rest, c.Digest) {
			detail = rest
		}
		an := "a"
		if c.Status != "" && strings.ContainsRune("aeiou", rune(c.Status[0])) {
			an = "an"
		}
		why := fmt.Sprintf("site %s runs %s %s %s build: %s", c.Site, an, c.Status, c.Artifact, detail)
		if !strings.Contains(c.Detail, "embassy update approve") { // the finding names no way out of its own
			why += "; approve it ('embassy update approve') or have the host roll back"
		}
		if c.Status == "error" {
			why = fmt.Sprintf("site %s: its build could not be checked: %s", c.Site, c.Detail)
		}
		found[c.Site+"|"+c.Status+"|"+c.Digest] = watch.Alert{Kind: AlertUpdate, Site: c.Site, Unit: "build", Why: why}
	}
	raiseAll(st, slot, found, rep)
	rep.Summary = fmt.Sprintf("%s checked: %s", nouns(len(checks), "daemon build"), strings.Join(states, "; "))
	return rep, nil
}

// slaJob probes every host site (requirement 26: the probes are what the
// monthly SLA report measures availability from); a site down is alerted.
func (v *Vault) slaJob(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
	hosts := 0
	for _, sc := range v.Home.Config.Sites {
		if !sc.Member {
			hosts++
		}
	}
	if hosts == 0 {
		return &JobReport{OK: true, Summary: notConfigured + "no host sites"}, nil
	}
	probes, err := v.SLAProbe(ctx)
	if err != nil {
		return nil, err
	}
	rep := &JobReport{OK: true}
	found := map[string]watch.Alert{}
	up := 0
	for _, p := range probes {
		if p.Up {
			up++
			continue
		}
		found["down|"+p.Site] = watch.Alert{Kind: AlertSiteDown, Site: p.Site, Unit: "site",
			Why: fmt.Sprintf("site %s does not answer from home: %s (counted against its availability)", p.Site, p.Error)}
	}
	raiseAll(st, slot, found, rep)
	rep.Summary = fmt.Sprintf("%s probed, %d up", nouns(len(probes), "site"), up)
	rep.Details = map[string]string{"probed": strconv.Itoa(len(probes)), "up": strconv.Itoa(up)}
	return rep, nil
}

// computeJob checks the agreements' compute reservations against what the
// sites report (requirement 30); a site short of what it owes, one that
// over-reports or cannot be checked, and a workload placed where the
// policy forbids are alerted.
func (v *Vault) computeJob(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
	r, err := v.ComputeCheck(ctx, false)
	if err != nil {
		return nil, err
	}
	if len(r.Sites) == 0 && len(r.Placements) == 0 {
		return &JobReport{OK: true, Summary: notConfigured + "no agreement reserves compute and no workloads are declared"}, nil
	}
	rep := &JobReport{OK: true}
	found := map[string]watch.Alert{}
	short := 0
	for _, cs := range r.Sites {
		if !cs.Breach() {
			continue
		}
		short++
		var why []string
		why = append(why, cs.Problems...)
		if cs.Trusted != nil && len(cs.Trusted.OverReport) > 0 {
			why = append(why, "the site declares more capacity than its measurements show")
		}
		if cs.Result.Breach() {
			why = append(why, "the reserved capacity is not available")
		}
		found["site|"+cs.Site+"|"+strings.Join(why, ";")] = watch.Alert{Kind: AlertComputeBreach, Site: cs.Site, Unit: "reservation",
			Why: fmt.Sprintf("site %s falls short of agreement %s's compute reservations: %s ('embassy compute check' shows the detail)", cs.Site, cs.Agreement, strings.Join(why, "; "))}
	}
	denied := 0
	for _, p := range r.Placements {
		if p.Allow {
			continue
		}
		denied++
		found["place|"+p.Workload+"|"+p.Site] = watch.Alert{Kind: AlertComputeBreach, Site: p.Site, Unit: "workload",
			Why: fmt.Sprintf("workload %s runs at site %s, which the policy forbids: %s", p.Workload, p.Site, strings.Join(p.Reasons, "; "))}
	}
	raiseAll(st, slot, found, rep)
	rep.Summary = fmt.Sprintf("%s with reservations, %d short; %s placed, %d forbidden", nouns(len(r.Sites), "site"), short, nouns(len(r.Placements), "workload"), denied)
	rep.Details = map[string]string{"sites": strconv.Itoa(len(r.Sites)), "short": strconv.Itoa(short), "denied": strconv.Itoa(denied)}
	return rep, nil
}

// locationJob gathers signed location evidence of every daemon site from
// the home's position (requirement 8); a contradicted verdict or a site
// whose evidence cannot be gathered is alerted.
func (v *Vault) locationJob(ctx context.Context, slot time.Time, cfg protect.LocationJob, st *JobState) (*JobReport, error) {
	if cfg.From == "" {
		return &JobReport{OK: true, Summary: notConfigured + "protect.yaml names no home position (schedule.location.from)"}, nil
	}
	from, err := locate.ParsePoint(cfg.From)
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("schedule.location.from: %w", err), hint.CodeUsage)
	}
	wit := map[string]locate.Point{}
	for n, at := range cfg.Witnesses {
		if wit[n], err = locate.ParsePoint(at); err != nil {
			return nil, hint.WithCode(fmt.Errorf("schedule.location.witness-at.%s: %w", n, err), hint.CodeUsage)
		}
	}
	var sites []string
	for _, sc := range v.Home.Config.Sites {
		if IsDaemonSite(sc) && !sc.Member {
			sites = append(sites, sc.Name)
		}
	}
	if len(sites) == 0 {
		return &JobReport{OK: true, Summary: notConfigured + "no daemon sites"}, nil
	}
	rep := &JobReport{OK: true, Details: map[string]string{}}
	found := map[string]watch.Alert{}
	var states []string
	for _, s := range sites {
		l, err := v.Locate(ctx, LocateRequest{Site: s, HomeAt: from, WitnessAt: wit})
		if l != nil {
			rep.Details[s] = l.SHA256
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			states = append(states, s+": failed")
			found["locate|"+s] = watch.Alert{Kind: AlertLocationFailed, Site: s, Unit: "site",
				Why: fmt.Sprintf("site %s: location evidence: %s ('embassy site locate %s --from %s' shows the detail)", s, strings.TrimPrefix(err.Error(), "site "+s+": "), s, cfg.From)} // the site named once
			continue
		}
		if l.Bundle.Verdict == nil {
			states = append(states, s+": round trips only (the site declares no position)")
		} else {
			states = append(states, s+": consistent")
		}
	}
	raiseAll(st, slot, found, rep)
	rep.Summary = fmt.Sprintf("%s located: %s", nouns(len(sites), "daemon site"), strings.Join(states, "; "))
	return rep, nil
}

// nouns counts n of noun for a job summary: "1 daemon site", "2 daemon
// sites" (the nouns here all take a plain s).
func nouns(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
