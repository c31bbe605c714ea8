package vault

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/digital-embassy/embassy/internal/protect"
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
	res, err := v.Snapshot(ctx, req)
	if err != nil {
		return nil, err
	}
	v.log.InfoContext(ctx, "protected", "dataset", ds.Name, "snapshot", res.ID.Short(), "bytes", res.Stats.Bytes)
	return &protect.Taken{Dataset: ds.Name, ID: res.ID, Time: res.Snapshot.Time, Stats: res.Stats, Skipped: len(res.Skipped)}, nil
}
