package vault

import (
	"context"
	"sort"
	"time"

	"github.com/digital-embassy/embassy/internal/repo"
)

// SnapshotRow is one snapshot as 'embassy snapshots' lists it.
type SnapshotRow struct {
	ID      string    `json:"id"`
	Dataset string    `json:"dataset"`
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`
	Class   string    `json:"class"`
	Paths   []string  `json:"paths"`
	Tags    []string  `json:"tags,omitempty"`
	Files   int64     `json:"files"`
	Bytes   int64     `json:"bytes"`
	Epoch   uint32    `json:"key_epoch"`
	KeyVer  uint32    `json:"key_version"`
}

// DamagedSnapshot is a snapshot manifest of Dataset that does not open.
type DamagedSnapshot struct {
	Dataset string
	ID      repo.ID
	Err     error
}

// ListSnapshots lists the snapshots of the named datasets (every dataset,
// by name, when names is empty), oldest first within each dataset, and the
// manifests that are damaged (by id within each dataset).
func ListSnapshots(ctx context.Context, r *repo.Repo, names []string) ([]SnapshotRow, []DamagedSnapshot, error) {
	all, err := r.Datasets(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(names) == 0 {
		for n := range all {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	rows := []SnapshotRow{}
	var bad []DamagedSnapshot
	for _, n := range names {
		dk, err := r.Dataset(ctx, n)
		if err != nil {
			return nil, nil, err
		}
		d, err := r.OpenDataset(ctx, dk)
		if err != nil {
			return nil, nil, err
		}
		snaps, damaged, err := d.Snapshots(ctx)
		if err != nil {
			return nil, nil, err
		}
		for id, err := range damaged {
			bad = append(bad, DamagedSnapshot{n, id, err})
		}
		// in a stable order, dataset by dataset, not the map's
		from := len(bad) - len(damaged)
		sort.Slice(bad[from:], func(i, j int) bool { return bad[from+i].ID.String() < bad[from+j].ID.String() })
		for _, s := range snaps {
			rows = append(rows, SnapshotRow{s.ID.String(), n, s.Time, s.Host, s.Class, s.Paths, s.Tags, s.Stats.Files, s.Stats.Bytes, s.Epoch, s.KeyVersion})
		}
	}
	return rows, bad, nil
}
