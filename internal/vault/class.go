package vault

import (
	"context"

	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// ClassOf is the one class resolution: a dataset's class belongs to the
// dataset, not to a set of paths. It is the label of its newest snapshot
// that has one (by time, then id), whatever paths, stream or flags that
// snapshot was taken with; "" if none has.
func ClassOf(snaps []*repo.Snapshot) string {
	var best *repo.Snapshot
	for _, s := range snaps {
		if s.Class == "" {
			continue
		}
		if best == nil || s.Time.After(best.Time) || (s.Time.Equal(best.Time) && s.ID.String() > best.ID.String()) {
			best = s
		}
	}
	if best == nil {
		return ""
	}
	return best.Class
}

// DatasetClass is ClassOf the dataset's snapshots ("" if they cannot be
// listed).
func DatasetClass(ctx context.Context, d *repo.Dataset) string {
	snaps, _, err := d.Snapshots(ctx)
	if err != nil {
		return ""
	}
	return ClassOf(snaps)
}

// CanonicalClass parses a label given by the operator ("" stays "").
func CanonicalClass(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	l, err := class.Parse(s)
	if err != nil {
		return "", hint.WithCode(err, hint.CodeUsage)
	}
	return l.String(), nil
}

// DatasetID resolves a dataset name to its id from the home's own mirror
// of the key objects (no site is contacted). A value that names no
// dataset is returned as it is (it may be an id already, or a dataset of
// another home in an auditor's copy of the log).
func (v *Vault) DatasetID(ctx context.Context, nameOrID string) string {
	meta, err := v.MetaSite(ctx)
	if err != nil {
		return nameOrID
	}
	defer meta.Backend.Close()
	r, err := repo.Open(ctx, repo.Options{Home: v.Home.Config.Home, Sites: []*repo.Site{meta}, Logger: v.log, Now: v.clock, OnAlert: v.siteAlert})
	if err != nil {
		return nameOrID
	}
	root, err := v.Home.LoadRoot(r.CurrentEpoch().Epoch)
	if err != nil || r.SetRoot(root) != nil {
		return nameOrID
	}
	dk, err := r.Dataset(ctx, nameOrID)
	if err != nil {
		return nameOrID
	}
	return dk.ID
}

// loggedClass is the class the home's log last recorded a snapshot of the
// dataset (by id) under ("" if none, or the log cannot be read). It is
// the class when no site returns some of the dataset's manifests (every
// site gone or unreachable): the log is kept at home.
func (v *Vault) loggedClass(ctx context.Context, datasetID string) string {
	ents, err := v.logEntries(ctx)
	if err != nil {
		v.log.DebugContext(ctx, "the dataset's class could not be read from the log", "err", err)
		return ""
	}
	for i := len(ents) - 1; i >= 0; i-- {
		e := ents[i]
		if e.Kind == tlog.KindSnapshot && e.Dataset == datasetID && e.Details["class"] != "" {
			return e.Details["class"]
		}
	}
	return ""
}
