package protect

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Taken is a committed protection snapshot.
type Taken struct {
	Dataset string
	ID      repo.ID
	Time    time.Time
	Stats   repo.SnapshotStats
	Skipped int
}

// Take captures ds's source and snapshots it into r. The manifest, which
// commits the snapshot, is written only after the capture reports success:
// a pg_dump that fails mid-stream leaves packs behind (adopted by the next
// run) but never a snapshot, so the last good snapshot stays the latest.
func Take(ctx context.Context, r *repo.Repo, h *home.Home, ds Dataset, log *slog.Logger) (*Taken, error) {
	return TakeWith(ctx, r, h, ds, log, nil)
}

// Placer is asked, before anything is written, where a dataset of the
// given class may be written (see Runner.Place). It keeps denied sites off
// the write and returns undo, called when the snapshot is done; an error
// refuses the snapshot.
type Placer func(ctx context.Context, dataset, class string) (undo func(), err error)

// TakeWith is Take asking place (if not nil) first.
func TakeWith(ctx context.Context, r *repo.Repo, h *home.Home, ds Dataset, log *slog.Logger, place Placer) (*Taken, error) {
	dk, created, err := r.EnsureDataset(ctx, ds.Name)
	if err != nil {
		return nil, err
	}
	unlock, err := h.Lock("dataset-"+dk.ID, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		return nil, err
	}
	c, err := Open(ctx, ds.Source, filepath.Join(h.CacheDir(), "protect", ds.Name))
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", ds.Name, err)
	}
	defer c.Close()
	o := archiver.Options{Paths: c.Paths}
	paths := c.Paths
	if c.Stdin != nil {
		o = archiver.Options{Stdin: c.Stdin, StdinName: c.StdinName}
		paths = []string{"-"}
	}
	if !created {
		o.Parent = parentFor(ctx, d, paths)
	}
	lbl := ds.Class
	if lbl == "" && o.Parent != nil {
		lbl = o.Parent.Class
	}
	if place != nil {
		undo, err := place(ctx, ds.Name, lbl)
		if err != nil {
			return nil, err
		}
		defer undo()
	}
	// after placement: catching up must not copy to a site the policy denies
	if _, err := r.SyncDataset(ctx, dk.ID); err != nil {
		return nil, err
	}
	res, err := archiver.Run(ctx, d, o)
	werr := c.Wait()
	if werr != nil {
		log.WarnContext(ctx, "capture failed; snapshot not committed", "dataset", ds.Name, "err", werr)
		return nil, fmt.Errorf("capture %s: %w (snapshot not committed; the last good one stays the latest)", ds.Name, werr)
	}
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	snap := &repo.Snapshot{Time: time.Now().UTC(), Host: host, Paths: paths, Class: lbl, Tree: res.Tree, Root: res.Root,
		Tags: []string{"protect"}, Stats: res.Stats}
	if o.Parent != nil {
		pid := o.Parent.ID
		snap.Parent = &pid
	}
	id, err := d.SaveSnapshot(ctx, snap)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "protected", "dataset", ds.Name, "snapshot", id.Short(), "bytes", res.Stats.Bytes)
	return &Taken{Dataset: ds.Name, ID: id, Time: snap.Time, Stats: res.Stats, Skipped: len(res.Skipped)}, nil
}

func parentFor(ctx context.Context, d *repo.Dataset, paths []string) *repo.Snapshot {
	snaps, _, err := d.Snapshots(ctx)
	if err != nil {
		return nil
	}
	want := slices.Sorted(slices.Values(paths))
	for i := len(snaps) - 1; i >= 0; i-- {
		got := slices.Sorted(slices.Values(snaps[i].Paths))
		if strings.Join(got, "\x00") == strings.Join(want, "\x00") {
			return snaps[i]
		}
	}
	return nil
}
