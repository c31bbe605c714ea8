package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Progress is updated while a snapshot runs (bytes and files done and
// known).
type Progress = archiver.Progress

// SnapshotRequest is one snapshot to take.
type SnapshotRequest struct {
	Dataset   string
	Paths     []string  // files or folders (made absolute); ignored when Stdin is set
	Stdin     io.Reader // snapshot this stream instead of Paths
	StdinName string
	Class     string // "" keeps the dataset's class
	Host      string // "" is this machine's name
	Tags      []string
	Force     bool // read every file again: no parent
	Progress  *Progress
	By        string // entry point, recorded in the log: "snapshot", "protect", ...
	// Commit, if set, is asked after the data is stored and before the
	// manifest commits the snapshot; an error leaves no snapshot (a
	// capture such as pg_dump that failed mid-stream).
	Commit func() error
}

// SnapshotResult is a committed snapshot.
type SnapshotResult struct {
	ID        repo.ID
	Dataset   string
	DatasetID string
	Snapshot  *repo.Snapshot
	Stats     repo.SnapshotStats
	Skipped   []archiver.FileError
	Notes     []string // what the snapshot left out by design (sockets)
	Sites     []string // sites that hold it
	Placement Placement
	Entry     tlog.Entry // what was recorded in the transparency log
}

// Snapshot takes a snapshot: it resolves the dataset's class, takes the
// dataset's lock (shared: snapshots may run together), places the
// snapshot with one policy.Write decision per site (denied sites are not
// written), catches the allowed sites up, stores the data, commits the
// manifest and records the entry. The vault must be open with keys.
func (v *Vault) Snapshot(ctx context.Context, req SnapshotRequest) (*SnapshotResult, error) {
	res, err := v.snapshot(ctx, req)
	if err != nil && hint.CodeOf(err) == hint.CodeDamaged && !errors.Is(err, ErrOutsideWitness) {
		// exit code 3 means "done, with problems"; a snapshot that failed
		// saved nothing, whatever the sites said (a policy refusal of an
		// I3 home-alone write stays 3: refused)
		return nil, hint.WithCode(fmt.Errorf("nothing saved: %w", err), hint.CodeError)
	}
	return res, err
}

func (v *Vault) snapshot(ctx context.Context, req SnapshotRequest) (*SnapshotResult, error) {
	r := v.Repo
	if err := repo.ValidDatasetName(req.Dataset); err != nil {
		return nil, err
	}
	lbl, err := CanonicalClass(req.Class)
	if err != nil {
		return nil, err
	}
	if len(v.Home.Config.Sites) == 0 {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("home %s has no storage sites", v.Home.Config.Home),
			"add one with 'embassy site add NAME --url DIR --jurisdiction CC'"), hint.CodeUsage)
	}
	paths := []string{"-"}
	if req.Stdin == nil {
		paths = make([]string, len(req.Paths))
		for i, p := range req.Paths {
			if paths[i], err = filepath.Abs(p); err != nil {
				return nil, err
			}
		}
	}
	dk, created, err := r.EnsureDataset(ctx, req.Dataset)
	if err != nil {
		return nil, err
	}
	unlock, err := v.LockDataset(ctx, OpSnapshot, dk)
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		return nil, err
	}
	var parent *repo.Snapshot
	if !created {
		snaps, bad, err := d.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		if lbl == "" {
			lbl = ClassOf(snaps)
		}
		if lbl == "" && len(bad) > 0 {
			// manifests no site returned (every site gone): the class the
			// home's log recorded, not "unlabelled"
			lbl = v.loggedClass(ctx, dk.ID)
		}
		if !req.Force {
			parent = parentFor(snaps, paths)
		}
	}
	gate, err := v.Gate()
	if err != nil {
		return nil, err
	}
	pl, undo, err := gate.Place(ctx, r, policy.Dataset{Name: req.Dataset, Class: lbl, ID: dk.ID})
	if err != nil {
		return nil, err
	}
	defer undo()
	// after placement: catching up must not copy to a site the policy denies
	if st, err := r.SyncDataset(ctx, dk.ID); err != nil {
		return nil, err
	} else if st.Objects > 0 {
		v.log.InfoContext(ctx, "sites caught up", "dataset", req.Dataset, "objects", st.Objects, "bytes", st.Bytes)
	}
	o := archiver.Options{Paths: paths, Parent: parent, Progress: req.Progress, Now: v.clock}
	if req.Stdin != nil {
		o.Paths, o.Stdin, o.StdinName = nil, req.Stdin, req.StdinName
	}
	res, err := archiver.Run(ctx, d, o)
	if req.Commit != nil {
		if cerr := req.Commit(); cerr != nil {
			return nil, errors.Join(cerr, err)
		}
	}
	if err != nil {
		return nil, err
	}
	host := req.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	snap := &repo.Snapshot{Time: v.Now(), Host: host, Paths: paths, Class: lbl, Tree: res.Tree, Root: res.Root,
		Tags: req.Tags, Stats: res.Stats}
	if parent != nil {
		pid := parent.ID
		snap.Parent = &pid
	}
	id, err := d.SaveSnapshot(ctx, snap)
	if err != nil {
		return nil, err
	}
	sites := SiteNames(r)
	out := &SnapshotResult{ID: id, Dataset: req.Dataset, DatasetID: dk.ID, Snapshot: snap, Stats: res.Stats,
		Skipped: res.Skipped, Notes: res.Notes, Sites: sites, Placement: pl}
	out.Entry = tlog.Snapshot(tlog.SnapshotFacts{DatasetID: dk.ID, Snapshot: id.String(), Class: lbl, Sites: sites,
		Files: res.Stats.Files, NewBlobs: res.Stats.NewBlobs, By: req.By})
	v.Recorder().Fill(&out.Entry)
	v.Recorder().Audit(ctx, out.Entry)
	return out, nil
}

// parentFor picks the newest snapshot with the same paths.
func parentFor(snaps []*repo.Snapshot, paths []string) *repo.Snapshot {
	want := strings.Join(slices.Sorted(slices.Values(paths)), "\x00")
	for i := len(snaps) - 1; i >= 0; i-- {
		if strings.Join(slices.Sorted(slices.Values(snaps[i].Paths)), "\x00") == want {
			return snaps[i]
		}
	}
	return nil
}
