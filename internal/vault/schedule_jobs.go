package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

// Alert kinds raised by the scheduled jobs.
const (
	AlertAgreementExpiring = "agreement-expiring"
	AlertAgreementExpired  = "agreement-expired"
	AlertReviewOverdue     = "agreement-review-overdue"
	AlertUndeclaredData    = "inventory-undeclared"
	AlertIntegrity         = "integrity-mismatch"
	AlertDamage            = "integrity-damage"
	AlertDrillFailed       = "drill-failed"
)

// DrillEveryTerm is the agreement term that sets how often the datasets
// hosted under it are drilled.
const DrillEveryTerm = "operations.restore-drill-every-days"

// ProtectHooks are what an entry point shows of a protect run.
type ProtectHooks struct {
	OnTaken func(*protect.Taken)
	OnAlert func(protect.Alert) // after the alert is recorded
}

// Protection is 'embassy protect': the protect runner and the home's
// other scheduled jobs on one scheduler.
type Protection struct {
	*Scheduler
	Runner *protect.Runner
	force  bool
}

// JobProtect is the scheduler's name of the snapshot-and-lag job.
const JobProtect = "protect"

// Protection builds the scheduler 'embassy protect' runs: the snapshots
// and lag of protect.yaml's datasets every poll, then agreement expiry,
// the inventory scan, integrity, the configuration history and the
// drills, and the host-facing checks (schedule_host.go), each on its
// interval (protect.yaml schedule:). The vault's
// repository must be open with keys.
func (v *Vault) Protection(cfg *protect.Config, hooks ProtectHooks) (*Protection, error) {
	p := &Protection{}
	p.Runner = &protect.Runner{Repo: v.Repo, Home: v.Home, Config: cfg, Log: v.log, Now: v.Now, Take: v.Protect,
		OnTaken: hooks.OnTaken,
		OnAlert: func(a protect.Alert) {
			v.RecordRPOAlert(a)
			if hooks.OnAlert != nil {
				hooks.OnAlert(a)
			}
		}}
	jobs := []Job{{Name: JobProtect, Every: cfg.Poll, Silent: true, Run: func(ctx context.Context, _ time.Time, _ *JobState) (*JobReport, error) {
		errs := p.Runner.Cycle(ctx, p.force)
		return &JobReport{OK: len(errs) == 0}, errors.Join(errs...)
	}}}
	sc := cfg.Schedule
	if !sc.Agreements.Off {
		notice := time.Duration(sc.Agreements.NoticeDays) * 24 * time.Hour
		jobs = append(jobs, Job{Name: tlog.JobAgreements, Every: sc.Agreements.Every, Run: func(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
			return v.agreementJob(slot, notice, st)
		}})
	}
	if !sc.Inventory.Off {
		jobs = append(jobs, Job{Name: tlog.JobInventory, Every: sc.Inventory.Every, Run: v.inventoryJob})
	}
	if !sc.Integrity.Off {
		every := sc.Integrity.ReadDataEvery
		jobs = append(jobs, Job{Name: tlog.JobIntegrity, Every: sc.Integrity.Every, Run: func(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
			return v.integrityJob(ctx, slot, every, st)
		}})
	}
	if !sc.Config.Off {
		jobs = append(jobs, Job{Name: tlog.JobConfig, Every: sc.Config.Every, Run: func(ctx context.Context, _ time.Time, _ *JobState) (*JobReport, error) {
			changed, err := v.RecordConfig(ctx)
			if err != nil {
				return nil, err
			}
			return &JobReport{OK: true, Summary: nouns(len(changed), "configuration file") + " changed",
				Details: map[string]string{"changed": strings.Join(changed, ",")}}, nil
		}})
	}
	jobs = append(jobs, v.hostJobs(sc)...)
	for i, d := range sc.Drills {
		j, err := v.drillJob(i, d)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	s, err := v.NewScheduler(jobs...)
	if err != nil {
		return nil, err
	}
	p.Scheduler = s
	return p, nil
}

// Once runs every job now (snapshots of every dataset included).
func (p *Protection) Once(ctx context.Context) ([]JobRun, error) {
	p.force = true
	defer func() { p.force = false }()
	return p.RunDue(ctx, true)
}

// RecordRPOAlert records an RPO alert in <home>/alerts.jsonl (which the
// watcher forwards) and in the event journal.
func (v *Vault) RecordRPOAlert(a protect.Alert) {
	h := v.Home
	if err := evidence.AppendLine(filepath.Join(h.Dir, protect.AlertsFile), a); err != nil {
		v.log.Error("alerts", "err", err)
	}
	_ = evidence.Journal{Path: filepath.Join(h.Dir, EventsFile)}.Append(evidence.Event{Type: "alert", Home: h.Config.Home,
		Summary: fmt.Sprintf("rpo %s: %s at %s", a.State, a.Dataset, a.Site), Fields: map[string]any{"lag_seconds": a.LagSec, "rpo_seconds": a.RPOSec}})
}

// agreementJob alerts once when an installed agreement comes within
// notice of its end, once when it has ended, and once when its review is
// overdue (framework requirements 1 and 2).
func (v *Vault) agreementJob(slot time.Time, notice time.Duration, st *JobState) (*JobReport, error) {
	base := agreement.DefaultBaseline()
	ias, err := LoadAgreements(v.Home, base)
	if err != nil {
		return nil, err
	}
	rep := &JobReport{OK: true, Details: map[string]string{"agreements": strconv.Itoa(len(ias))}}
	keep := map[string]bool{}
	var states []string
	for _, ia := range ias {
		s := ia.StatusAt(slot, base)
		end := s.Expires.UTC().Format(time.DateOnly)
		left := s.Expires.Sub(slot)
		var a *watch.Alert
		var key string
		switch {
		case s.Expired:
			key = ia.ID + "|expired|" + end
			a = &watch.Alert{Kind: AlertAgreementExpired, Why: fmt.Sprintf("agreement %s ended on %s: writes to its sites are refused; renew it or exit its sites", ia.ID, end),
				Baseline: 0, Observed: float64(int(left.Hours() / 24)), Unit: "days left"}
		case left <= notice:
			key = ia.ID + "|expiring|" + end
			a = &watch.Alert{Kind: AlertAgreementExpiring, Why: fmt.Sprintf("agreement %s ends on %s, in %s: renew it or plan the exit", ia.ID, end, nouns(int(left.Hours()/24), "day")),
				Baseline: notice.Hours() / 24, Observed: float64(int(left.Hours() / 24)), Unit: "days left"}
		}
		state := "in force until " + end
		if a != nil {
			rep.OK = false
			state = a.Kind + " " + end
			keep[key] = true
			if st.Raise(key, slot) {
				a.Time = slot
				rep.Alerts = append(rep.Alerts, *a)
			}
		}
		if s.ReviewOverdue {
			rep.OK = false
			rk := ia.ID + "|review|" + s.ReviewDue.UTC().Format(time.DateOnly)
			keep[rk] = true
			if st.Raise(rk, slot) {
				rep.Alerts = append(rep.Alerts, watch.Alert{Time: slot, Kind: AlertReviewOverdue, Unit: "review",
					Why: fmt.Sprintf("agreement %s: the hosted-dataset inventory review was due on %s", ia.ID, s.ReviewDue.UTC().Format(time.DateOnly))})
			}
			state += ", review overdue"
		}
		states = append(states, ia.ID+": "+state)
	}
	st.Clear(keep)
	rep.Summary = nouns(len(ias), "agreement") + " checked"
	if len(states) > 0 {
		rep.Summary += ": " + strings.Join(states, "; ")
	}
	return rep, nil
}

// InventoryFinding is data a site holds that the declared inventory does
// not name there.
type InventoryFinding struct {
	Site    string `json:"site"`
	Dataset string `json:"dataset"` // name, or id when the home does not know it
	Why     string `json:"why"`
}

// ScanInventory lists what each open site holds (its snapshot manifests'
// datasets) and returns what the declared inventory (policy.yaml
// datasets:) does not name: a dataset not declared, one declared for
// other agreements than the site's, and data of a dataset the home's
// signed state does not list at all (the last even with no inventory
// declared).
func (v *Vault) ScanInventory(ctx context.Context) (held int, out []InventoryFinding, err error) {
	s, err := LoadSettings(v.Home, agreement.DefaultBaseline())
	if err != nil {
		return 0, nil, err
	}
	names := map[string]string{}
	st, err := v.homeState(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("inventory: the home's signed state: %w", err)
	}
	for _, d := range st.Datasets {
		names[d.ID] = d.Name
	}
	declared := len(s.Datasets) > 0
	for _, rs := range v.Repo.Sites() {
		if rs.MetaOnly || rs.Backend == nil {
			continue
		}
		ids := map[string]bool{}
		if err := rs.Backend.List(ctx, site.KindSnapshot, func(i site.Info) error {
			ds, _, _ := strings.Cut(i.Handle.Name, "/")
			ids[ds] = true
			return nil
		}); err != nil {
			v.Warnf("site %s: inventory scan failed: %v", rs.Name, err)
			continue
		}
		sc, _ := v.Home.Site(rs.Name)
		for _, id := range sortedKeys(ids) {
			held++
			name, known := names[id]
			switch {
			case !known:
				out = append(out, InventoryFinding{Site: rs.Name, Dataset: id, Why: "data of dataset id " + id + ", which the home's signed state does not list"})
			case !declared:
				// No inventory declared: nothing to compare with (assess
				// reports requirement 9 as not configured).
			case !slices.ContainsFunc(s.Datasets, func(t policyTags) bool { return t.Name == name }):
				out = append(out, InventoryFinding{Site: rs.Name, Dataset: name, Why: "dataset " + name + " is not in the declared inventory (datasets: in policy.yaml)"})
			default:
				t := s.Tags(name)
				if sc != nil && len(t.Agreements) > 0 && !slices.Contains(t.Agreements, sc.Agreement) {
					out = append(out, InventoryFinding{Site: rs.Name, Dataset: name, Why: fmt.Sprintf("dataset %s is declared for agreements %s, not for %q that site %s is hosted under",
						name, strings.Join(t.Agreements, ","), sc.Agreement, rs.Name)})
				}
			}
		}
	}
	return held, out, nil
}

func (v *Vault) inventoryJob(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
	held, finds, err := v.ScanInventory(ctx)
	if err != nil {
		return nil, err
	}
	summary := fmt.Sprintf("%d dataset copies at the sites, %d not in the declared inventory", held, len(finds))
	if s, err := LoadSettings(v.Home, agreement.DefaultBaseline()); err == nil && len(s.Datasets) == 0 {
		summary = fmt.Sprintf("%d dataset copies at the sites; no inventory declared (datasets: in policy.yaml), only data of unknown datasets is alerted on", held)
	}
	rep := &JobReport{OK: len(finds) == 0, Summary: summary,
		Details: map[string]string{"held": strconv.Itoa(held), "undeclared": strconv.Itoa(len(finds))}}
	keep := map[string]bool{}
	for _, f := range finds {
		key := f.Site + "|" + f.Dataset + "|" + f.Why
		keep[key] = true
		if st.Raise(key, slot) {
			rep.Alerts = append(rep.Alerts, watch.Alert{Time: slot, Kind: AlertUndeclaredData, Site: watch.Clean(f.Site), Dataset: watch.Clean(f.Dataset),
				Why: watch.CleanN("site "+f.Site+": "+f.Why, watch.MaxLine), Unit: "dataset"})
		}
	}
	st.Clear(keep)
	return rep, nil
}

// drillJob is a restore drill of one plan on the cadence its sites'
// agreements require (DrillEveryTerm; the baseline's for a site under
// none); a configured every may only make it sooner.
func (v *Vault) drillJob(i int, d protect.DrillJob) (Job, error) {
	p, err := failover.LoadPlan(d.Plan)
	if err != nil {
		return Job{}, fmt.Errorf("schedule.drills[%d].plan: %w", i, err)
	}
	every, why, err := v.DrillCadence(p)
	if err != nil {
		return Job{}, err
	}
	if d.Every > 0 && d.Every < every {
		every, why = d.Every, "schedule.drills[].every"
	}
	name := "drill:" + p.Name
	return Job{Name: name, Every: every, Run: func(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error) {
		var pass Passphrase
		if d.PassphraseFile != "" {
			pass = func(string) ([]byte, error) { return os.ReadFile(d.PassphraseFile) }
		}
		ids, err := LoadIdentities(append(append([]string(nil), p.Custodians...), d.Identities...), pass)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(EvidenceDir(v.Home), "drills")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		out := filepath.Join(dir, fmt.Sprintf("%s-%s.json", p.Name, slot.UTC().Format("20060102T150405Z")))
		res, err := NewContinuity(v, Options{}).Drill(ctx, DrillRequest{Plan: p, Identities: ids, Out: out})
		if err != nil {
			return nil, err
		}
		r := res.Report
		rto := fmt.Sprintf("RTO %.1fs", r.RTOMeasured)
		if r.RTOMeasured < 0 { // the service never came back
			rto = "RTO not reached"
		}
		rep := &JobReport{OK: r.Pass, Summary: fmt.Sprintf("drill %s: pass=%t, %s (target %gs), cadence %s from %s", r.Plan, r.Pass, rto, r.RTOTarget, every, why),
			Details: map[string]string{"report": res.Digest, "pass": strconv.FormatBool(r.Pass), "rto_seconds": strconv.FormatFloat(r.RTOMeasured, 'f', 1, 64)}}
		if !r.Pass {
			rep.Alerts = append(rep.Alerts, watch.Alert{Time: slot, Kind: AlertDrillFailed, Unit: "seconds", Baseline: r.RTOTarget, Observed: r.RTOMeasured,
				Why: watch.CleanN(fmt.Sprintf("restore drill %s failed: %s", r.Plan, strings.Join(r.Failures, "; ")), watch.MaxLine)})
		}
		return rep, nil
	}}, nil
}

// DrillCadence is how often plan p must be drilled: the shortest
// DrillEveryTerm of the installed agreements its sites are hosted under,
// the baseline's for a site under none. why names where it came from.
func (v *Vault) DrillCadence(p *failover.Plan) (time.Duration, string, error) {
	base := agreement.DefaultBaseline()
	days := base.Values[DrillEveryTerm].Int()
	why := "the baseline"
	ias, err := LoadAgreements(v.Home, base)
	if err != nil {
		return 0, "", err
	}
	byID := map[string]*agreement.Agreement{}
	for _, ia := range ias {
		byID[ia.ID] = ia.Agreement
	}
	for _, ps := range p.Sites {
		sc, _ := v.Home.Site(ps.Name)
		if sc == nil || byID[sc.Agreement] == nil {
			continue
		}
		if d := agreement.Resolve(byID[sc.Agreement], base)[DrillEveryTerm].Value.Int(); d > 0 && d <= days {
			days, why = d, "agreement "+sc.Agreement
		}
	}
	if days <= 0 {
		days = 90
	}
	return time.Duration(days) * 24 * time.Hour, why, nil
}
