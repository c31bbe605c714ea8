package vault

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/retention"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Verify checks every site (or opts.Sites) while holding every dataset's
// lock shared, so that no prune, forget, rotation or shred deletes what it
// is reading (false damage), and records the entry.
func (v *Vault) Verify(ctx context.Context, opts repo.VerifyOptions) (*repo.VerifyReport, error) {
	unlock, err := v.LockAll(ctx, OpVerify, v.Repo)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if opts.Held, err = v.heldFilter(ctx); err != nil {
		return nil, err
	}
	rep, err := v.Repo.Verify(ctx, opts)
	if err != nil {
		return nil, err
	}
	v.Recorder().Audit(ctx, tlog.Verify(opts.ReadData, len(rep.Damage), rep.Sites))
	return rep, nil
}

// RepairResult is what Repair found and did.
type RepairResult struct {
	Before, After *repo.VerifyReport
	Actions       []repo.RepairAction
}

// Repair verifies every site (or only the named sites) and copies an
// intact copy of each missing or damaged object from another site (dry:
// only reports), then verifies again; it holds every dataset's lock shared
// throughout. With sites, the other sites serve as sources only.
func (v *Vault) Repair(ctx context.Context, readData, dry bool, sites ...string) (*RepairResult, error) {
	unlock, err := v.LockAll(ctx, OpRepair, v.Repo)
	if err != nil {
		return nil, err
	}
	defer unlock()
	r := v.Repo
	held, err := v.heldFilter(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := r.Verify(ctx, repo.VerifyOptions{ReadData: readData, Sites: sites, Held: held})
	if err != nil {
		return nil, err
	}
	acts, err := r.Repair(ctx, rep, dry)
	if err != nil {
		return nil, err
	}
	var ents []tlog.Entry
	for _, a := range acts {
		if a.Done {
			ents = append(ents, tlog.Repair(a.Site, a.Object, a.From))
		}
	}
	v.Recorder().Audit(ctx, ents...)
	out := &RepairResult{Before: rep, After: rep, Actions: acts}
	if !dry && len(acts) > 0 {
		if out.After, err = r.Verify(ctx, repo.VerifyOptions{ReadData: readData, Sites: sites, Held: held}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PruneResult is one dataset's prune.
type PruneResult struct {
	Dataset string
	Report  *repo.PruneReport
}

// Prune deletes the data no snapshot of the named datasets (all if none)
// refers to, one dataset at a time under its exclusive lock, after
// catching the sites up.
func (v *Vault) Prune(ctx context.Context, names []string, opts repo.PruneOptions) ([]PruneResult, error) {
	r := v.Repo
	if len(names) == 0 {
		all, err := r.Datasets(ctx)
		if err != nil {
			return nil, err
		}
		for _, dk := range all {
			names = append(names, dk.Name)
		}
		slices.Sort(names)
	}
	var out []PruneResult
	for _, n := range names {
		rep, err := v.pruneOne(ctx, n, opts)
		if err != nil {
			return out, err
		}
		out = append(out, PruneResult{Dataset: n, Report: rep})
	}
	return out, nil
}

func (v *Vault) pruneOne(ctx context.Context, name string, opts repo.PruneOptions) (*repo.PruneReport, error) {
	r := v.Repo
	dk, err := r.Dataset(ctx, name)
	if err != nil {
		return nil, err
	}
	unlock, err := v.LockDataset(ctx, OpPrune, dk)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := r.SyncDataset(ctx, dk.ID); err != nil {
		return nil, err
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		return nil, err
	}
	rep, err := d.Prune(ctx, opts)
	if err != nil {
		return nil, err
	}
	if !opts.DryRun {
		v.Recorder().Audit(ctx, tlog.Prune(dk.ID, rep.PacksDeleted, rep.PacksRepacked, rep.BytesFreed))
	}
	return rep, nil
}

// ForgetRequest names the snapshots to remove: IDs, or those Keep does not
// keep.
type ForgetRequest struct {
	Dataset string
	IDs     []string
	Keep    retention.Policy
	DryRun  bool
	Prune   bool // prune unreferenced data afterwards
}

// ForgetDecision is one snapshot's fate.
type ForgetDecision struct {
	ID      string   `json:"id"`
	Time    string   `json:"time"`
	Keep    bool     `json:"keep"`
	Reasons []string `json:"reasons,omitempty"`
}

// ForgetResult is what Forget decided and did.
type ForgetResult struct {
	Dataset   string
	Decisions []ForgetDecision
	Removed   []*repo.Snapshot
	Prune     *repo.PruneReport
}

// Forget removes snapshot manifests under the dataset's exclusive lock
// (and prunes with req.Prune), and records one entry per manifest.
func (v *Vault) Forget(ctx context.Context, req ForgetRequest) (*ForgetResult, error) {
	r := v.Repo
	dk, err := r.Dataset(ctx, req.Dataset)
	if err != nil {
		return nil, err
	}
	unlock, err := v.LockDataset(ctx, OpForget, dk)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := r.SyncDataset(ctx, dk.ID); err != nil {
		return nil, err
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		return nil, err
	}
	out := &ForgetResult{Dataset: dk.Name}
	if len(req.IDs) > 0 {
		for _, id := range req.IDs {
			s, err := d.FindSnapshot(ctx, id)
			if err != nil {
				return nil, err
			}
			out.Removed = append(out.Removed, s)
			out.Decisions = append(out.Decisions, ForgetDecision{s.ID.String(), s.Time.Format(time.RFC3339), false, []string{"named"}})
		}
	} else {
		snaps, _, err := d.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		byID := map[string]*repo.Snapshot{}
		var items []retention.Item
		for _, s := range snaps {
			byID[s.ID.String()] = s
			items = append(items, retention.Item{ID: s.ID.String(), Time: s.Time})
		}
		for _, dc := range retention.Apply(items, req.Keep, v.Now()) {
			out.Decisions = append(out.Decisions, ForgetDecision{dc.ID, dc.Time.Format(time.RFC3339), dc.Keep, dc.Reasons})
			if !dc.Keep {
				out.Removed = append(out.Removed, byID[dc.ID])
			}
		}
	}
	if req.DryRun {
		return out, nil
	}
	// A snapshot still under retention at an object-lock site cannot be
	// deleted there: forget refuses it whole, before any tombstone, so the
	// signed state and every site keep agreeing that it exists.
	for _, s := range out.Removed {
		for _, sc := range v.Home.Config.Sites {
			if sc.RetainDays <= 0 {
				continue
			}
			if until := s.Time.Add(time.Duration(sc.RetainDays) * 24 * time.Hour); v.Now().Before(until) {
				return nil, hint.WithCode(hint.Wrap(fmt.Errorf("snapshot %s of %s is retained at site %s until %s (object lock, --retain-days %d)",
					s.ID.Short(), req.Dataset, sc.Name, until.UTC().Format(time.RFC3339), sc.RetainDays),
					"forget it after that date; to make it unreadable now, use 'embassy key shred' (keys are never retained)"), hint.CodeDamaged)
			}
		}
	}
	var ents []tlog.Entry
	ids := make([]repo.ID, 0, len(out.Removed))
	for _, s := range out.Removed {
		ids = append(ids, s.ID)
	}
	// Signed tombstones in the vault state first, then deletion: a host
	// that puts a forgotten manifest back is refused.
	if len(ids) > 0 {
		if err := d.Forget(ctx, ids); err != nil {
			return nil, hint.Wrap(err, "run forget again; removing a manifest is idempotent")
		}
	}
	for _, s := range out.Removed {
		ents = append(ents, tlog.Forget(dk.ID, s.ID.String()))
	}
	if req.Prune && len(out.Removed) > 0 {
		if err := d.LoadIndex(ctx); err != nil {
			return nil, err
		}
		if out.Prune, err = d.Prune(ctx, repo.PruneOptions{}); err != nil {
			return nil, err
		}
		ents = append(ents, tlog.Prune(dk.ID, out.Prune.PacksDeleted, out.Prune.PacksRepacked, out.Prune.BytesFreed))
	}
	v.Recorder().Audit(ctx, ents...)
	return out, nil
}

// LockedDataset runs fn with dataset name's lock held for op (shared for
// readers such as ls).
func (v *Vault) LockedDataset(ctx context.Context, op Op, name string, fn func(*repo.Dataset) error) error {
	dk, err := v.Repo.Dataset(ctx, name)
	if err != nil {
		return err
	}
	unlock, err := v.LockDataset(ctx, op, dk)
	if err != nil {
		return err
	}
	defer unlock()
	d, err := v.Repo.OpenDataset(ctx, dk)
	if err != nil {
		return err
	}
	return fn(d)
}

// SyncResult is what Sync copied and each site's remaining lag.
type SyncResult struct {
	Copied repo.CopyStats
	Lag    map[string]*repo.SiteLag
}

// Sync catches up every reachable site from the others (dry: only
// measures each site's lag), copying no dataset to a site the policy
// denies (one policy.Replicate decision per dataset and site), while
// holding every dataset's lock shared.
func (v *Vault) Sync(ctx context.Context, dry bool) (*SyncResult, error) {
	r := v.Repo
	unlock, err := v.LockAll(ctx, OpSync, r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var targets []home.SiteConfig
	for _, s := range r.Sites() {
		if sc, _ := v.Home.Site(s.Name); sc != nil {
			targets = append(targets, *sc)
		}
	}
	g, err := v.Gate()
	if err != nil {
		return nil, err
	}
	keep, err := g.ReplicationFilter(ctx, r, targets)
	if err != nil {
		return nil, err
	}
	out := &SyncResult{}
	if dry {
		out.Lag, err = r.LagFiltered(ctx, keep)
	} else {
		out.Copied, out.Lag, err = r.CatchUpFiltered(ctx, keep)
	}
	return out, err
}

// heldFilter is the policy's say on which site holds which dataset, for
// verify and repair (Gate.HeldFilter).
func (v *Vault) heldFilter(ctx context.Context) (repo.CopyFilter, error) {
	g, err := v.Gate()
	if err != nil {
		return nil, err
	}
	return g.HeldFilter(ctx, v.Repo)
}
