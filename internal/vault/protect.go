package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Protect captures a protected dataset's source (a folder, a SQLite copy,
// a pg_dump stream) and snapshots it through Snapshot, so a protect run
// asks the same policy decisions and records the same entry as 'embassy
// snapshot'. The manifest, which commits the snapshot, is written only
// after the capture reports success: a pg_dump that fails mid-stream
// leaves packs behind (adopted by the next run) but never a snapshot, so
// the last good snapshot stays the latest. It implements protect.Taker.
func (v *Vault) Protect(ctx context.Context, ds protect.Dataset) (*protect.Taken, error) {
	c, err := protect.Open(ctx, ds.Source, filepath.Join(v.Home.CacheDir(), "protect", ds.Name))
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", ds.Name, err)
	}
	defer c.Close()
	req := SnapshotRequest{Dataset: ds.Name, Class: ds.Class, Paths: c.Paths, Tags: []string{"protect"}, By: "protect",
		Commit: func() error {
			if werr := c.Wait(); werr != nil {
				v.log.WarnContext(ctx, "capture failed; snapshot not committed", "dataset", ds.Name, "err", werr)
				return fmt.Errorf("capture %s: %w (snapshot not committed; the last good one stays the latest)", ds.Name, werr)
			}
			return nil
		}}
	if c.Stdin != nil {
		req.Paths, req.Stdin, req.StdinName = nil, c.Stdin, c.StdinName
	}
	decided := 0
	if g, gerr := v.Gate(); gerr == nil {
		decided = len(g.Decisions())
	}
	res, err := v.Snapshot(ctx, req)
	if err != nil {
		if v.refusedUnlabelled(ds.Name, decided) {
			return nil, hint.Wrap(&unlabelledRefusal{err: err, name: ds.Name}, labelHint(ds.Name))
		}
		return nil, err
	}
	v.log.InfoContext(ctx, "protected", "dataset", ds.Name, "snapshot", res.ID.Short(), "bytes", res.Stats.Bytes)
	return &protect.Taken{Dataset: ds.Name, ID: res.ID, Time: res.Snapshot.Time, Stats: res.Stats, Skipped: len(res.Skipped)}, nil
}

// The protect types entry points show; the command line reaches them
// through the vault, not internal/protect.
type (
	// ProtectConfig is <home>/protect.yaml: the protected datasets and the
	// scheduled jobs.
	ProtectConfig = protect.Config
	// Taken is a committed protection snapshot.
	Taken = protect.Taken
	// RPOAlert is a dataset's lag at a site going past its RPO, or back.
	RPOAlert = protect.Alert
	// DatasetLag is one dataset's replication lag at one site.
	DatasetLag = protect.SiteLag
)

// LoadProtectConfig reads the protection configuration at path (""
// is <home>/protect.yaml). A missing file or a bad one is a usage error
// saying what to write.
func LoadProtectConfig(h *home.Home, path string) (*protect.Config, error) {
	if path == "" {
		path = filepath.Join(h.Dir, protect.FileName)
	}
	c, err := protect.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("no protection configuration at %s", path),
			"write it: datasets with a source (dir, sqlite, postgres), an rpo and optionally every/on-change; see 'embassy protect --help'"), hint.CodeUsage)
	}
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	return c, nil
}

// MetricsHandler serves the protect runner's Prometheus metrics
// (embassy_replication_lag_seconds{dataset,site}, embassy_rpo_exceeded,
// ...; docs/METRICS.md) for 'embassy protect --metrics'.
func (p *Protection) MetricsHandler() http.Handler {
	reg := metrics.NewRegistry()
	reg.MustRegister(p.Runner)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	return mux
}

// JobOutcome is one scheduled job's result in a ProtectReport.
type JobOutcome struct {
	Job    string
	OK     bool       // ran, and raised no alert
	Report *JobReport // nil if the job failed before reporting
	Err    error
}

// ProtectReport is what one 'embassy protect --once' did.
type ProtectReport struct {
	Taken []*protect.Taken  // the snapshots committed, in order
	Lags  []protect.SiteLag // every dataset's lag at every site, after the snapshots
	Jobs  []JobOutcome      // every job but the snapshots, in run order
	Errs  []error           // the snapshot job's failures (nothing saved for their datasets)
	Err   error             // Errs joined, with the way out; nil if every snapshot committed
	Alert []string          // the jobs that failed or raised an alert (exit code 3)
}

// RunOnce snapshots every dataset and runs every job once (Once), and
// reports: what was taken, the lags, each job's outcome, and the failed
// snapshots as one error naming the way out of each.
func (p *Protection) RunOnce(ctx context.Context) (*ProtectReport, error) {
	rep := &ProtectReport{}
	prev := p.Runner.OnTaken
	p.Runner.OnTaken = func(t *protect.Taken) {
		rep.Taken = append(rep.Taken, t)
		if prev != nil {
			prev(t)
		}
	}
	defer func() { p.Runner.OnTaken = prev }()
	runs, err := p.Once(ctx)
	if err != nil {
		return nil, err
	}
	rep.Lags = p.Runner.Lags()
	for _, run := range runs {
		if run.Job == JobProtect {
			if run.Err != nil {
				rep.Errs = append(rep.Errs, run.Err)
			}
			continue
		}
		o := JobOutcome{Job: run.Job, OK: run.Err == nil && run.Report != nil && run.Report.OK, Report: run.Report, Err: run.Err}
		if (run.Report != nil && !run.Report.OK) || run.Err != nil {
			rep.Alert = append(rep.Alert, run.Job)
		}
		rep.Jobs = append(rep.Jobs, o)
	}
	rep.Err = protectError(rep.Errs)
	return rep, nil
}

// unwrapJoined splits an errors.Join into its errors.
func unwrapJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// noSourceHint is the way out of a protect snapshot that failed for its
// source (a capture that failed, a site that went away).
const noSourceHint = "the previous snapshots of these datasets are intact; fix the source and run again"

// protectError joins the failed snapshots of a run with the ways out:
// each error's own hint (an unlabelled dataset: label it), else that the
// previous snapshots are intact and the source is to be fixed.
func protectError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	var hints []string
	var each []error
	for _, err := range errs {
		each = append(each, unwrapJoined(err)...)
	}
	for _, err := range each {
		h := noSourceHint
		if errors.Is(err, errUnlabelled) {
			h = hint.Of(err)
		}
		if !slices.Contains(hints, h) {
			hints = append(hints, h)
		}
	}
	return hint.Wrap(errors.Join(errs...), strings.Join(hints, "; "))
}

// errUnlabelled marks a protect snapshot the policy refused because its
// dataset has no classification label.
var errUnlabelled = errors.New("unlabelled")

// unlabelledRefusal is a policy refusal of a protected dataset for want of
// a class label; its hint names both ways to label it.
type unlabelledRefusal struct {
	err  error
	name string
}

func (u *unlabelledRefusal) Error() string        { return u.err.Error() }
func (u *unlabelledRefusal) Unwrap() error        { return u.err }
func (u *unlabelledRefusal) Is(target error) bool { return target == errUnlabelled }

// labelHint is the way out of an unlabelled protected dataset.
func labelHint(name string) string {
	return fmt.Sprintf("label it: add 'class: LABEL' (e.g. class: C2-I3-A3) to dataset %s in the protection configuration (%s), or take one labelled snapshot with 'embassy snapshot %s PATH --class LABEL' (protect keeps the newest label)",
		name, protect.FileName, name)
}

// refusedUnlabelled tells whether the gate's decisions since the first
// n refused a write of dataset name for want of a label.
func (v *Vault) refusedUnlabelled(name string, n int) bool {
	g, err := v.Gate()
	if err != nil {
		return false
	}
	ds := g.Decisions()
	if n > len(ds) {
		return false
	}
	for _, d := range ds[n:] {
		if d.Dataset == name && d.Action == policy.Write && !d.Allow && slices.Contains(d.Rules, RuleUnlabelled) {
			return true
		}
	}
	return false
}

// RuleUnlabelled is the policy rule that keeps a dataset without a
// classification label at home (policy/rules.cedar).
const RuleUnlabelled = "unlabelled"

// ProtectStatus is 'embassy status': every protected dataset's lag at
// every site against its RPO, what each site lacks, and the recent
// continuity events.
type ProtectStatus struct {
	Time    time.Time
	Lags    []protect.SiteLag
	PastRPO int              // dataset/site pairs past their RPO (exit code 3)
	SiteLag []*repo.SiteLag  // objects and bytes each site lacks that another holds, by site name
	Events  []evidence.Event // the last continuity events, oldest first
}

// Status measures the lags of the datasets of the protection
// configuration at path ("" is <home>/protect.yaml; if there is none,
// every dataset of the vault, by name, with no RPO). A configuration
// named by path must load. The vault's repository must be open.
func (v *Vault) Status(ctx context.Context, path string, events int) (*ProtectStatus, error) {
	r := v.Repo
	type target struct {
		name string
		rpo  time.Duration
	}
	var targets []target
	if cfg, err := LoadProtectConfig(v.Home, path); err == nil {
		for _, d := range cfg.Datasets {
			targets = append(targets, target{d.Name, d.RPO})
		}
	} else if path != "" {
		return nil, err
	} else {
		all, err := r.Datasets(ctx)
		if err != nil {
			return nil, err
		}
		for _, name := range slices.Sorted(maps.Keys(all)) {
			targets = append(targets, target{name, 0})
		}
	}
	st := &ProtectStatus{Time: v.Now()}
	lg := protect.NewLagger()
	for _, t := range targets {
		l, err := lg.Lags(ctx, r, t.name, t.rpo, st.Time)
		if err != nil {
			return nil, err
		}
		st.Lags = append(st.Lags, l...)
	}
	for _, l := range st.Lags {
		if l.Exceeded {
			st.PastRPO++
		}
	}
	st.Events = RecentEvents(v.Home, events)
	objLag, err := r.Lag(ctx)
	if err != nil {
		return nil, err
	}
	st.SiteLag = make([]*repo.SiteLag, 0, len(objLag))
	for _, l := range objLag {
		st.SiteLag = append(st.SiteLag, l)
	}
	slices.SortFunc(st.SiteLag, func(a, b *repo.SiteLag) int { return strings.Compare(a.Site, b.Site) })
	return st, nil
}
