package vault

import (
	"context"
	"strings"

	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// SplitRef splits DATASET[@ID] ("latest" if no id is given).
func SplitRef(ref string) (dataset, id string) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// OpenSnapshot resolves DATASET[@ID] (an id prefix is enough).
func (v *Vault) OpenSnapshot(ctx context.Context, ref string) (*repo.Dataset, *repo.Snapshot, error) {
	name, sid := SplitRef(ref)
	dk, err := v.Repo.Dataset(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	d, err := v.Repo.OpenDataset(ctx, dk)
	if err != nil {
		return nil, nil, err
	}
	s, err := d.FindSnapshot(ctx, sid)
	if err != nil {
		return nil, nil, err
	}
	// Only the index set the signed manifest binds (repo.Dataset.Bind).
	if _, err := d.Bind(ctx, s); err != nil {
		return nil, nil, err
	}
	return d, s, nil
}

// RestoreRequest is one restore to make.
type RestoreRequest struct {
	Ref     string // DATASET[@ID]
	Target  string
	Options restorer.Options
	By      string // entry point, recorded in the log
}

// RestoreResult is a finished restore.
type RestoreResult struct {
	Dataset   string
	DatasetID string
	Snapshot  *repo.Snapshot
	Stats     *restorer.Stats
	Denied    []Decision // sites the policy kept out of the restore
	Entry     tlog.Entry
}

// Restore restores a snapshot into req.Target: it takes the dataset's
// lock (shared with other readers and snapshots, never with prune or
// forget), asks the gate for one policy.Restore decision per site (denied
// sites are not read; none allowed refuses), restores and records the
// entry. The vault must be open with keys.
func (v *Vault) Restore(ctx context.Context, req RestoreRequest) (*RestoreResult, error) {
	r := v.Repo
	name, _ := SplitRef(req.Ref)
	dk, err := r.Dataset(ctx, name)
	if err != nil {
		return nil, err
	}
	unlock, err := v.LockDataset(ctx, OpRestore, dk)
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, s, err := v.OpenSnapshot(ctx, req.Ref)
	if err != nil {
		return nil, err
	}
	opts := req.Options
	if !r.LocalFirst() {
		// Remote sites: one request per 4 MiB of a pack, not per blob, and
		// each pack range fetched once, in pack order.
		d.ReadAhead = 4 << 20
		opts.PackOrder = true
	}
	gate, err := v.Gate()
	if err != nil {
		return nil, err
	}
	lbl := DatasetClass(ctx, d)
	if lbl == "" {
		lbl = s.Class
	}
	denied, err := gate.GateReads(ctx, r, policy.Restore, policy.Dataset{Name: dk.Name, Class: lbl, ID: dk.ID})
	if err != nil {
		return nil, err
	}
	st, err := restorer.Restore(ctx, d, s, req.Target, opts)
	if err != nil {
		return nil, err
	}
	out := &RestoreResult{Dataset: dk.Name, DatasetID: dk.ID, Snapshot: s, Stats: st, Denied: denied}
	out.Entry = tlog.Restore(tlog.RestoreFacts{DatasetID: dk.ID, Snapshot: s.ID.String(), Files: st.Files, Sites: SiteNames(r), By: req.By})
	v.Recorder().Fill(&out.Entry)
	v.Recorder().Audit(ctx, out.Entry)
	return out, nil
}
