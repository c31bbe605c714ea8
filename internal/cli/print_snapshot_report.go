package cli

import (
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/vault"
)

// printSnapshot reports a snapshot: its notes and skipped files on
// stderr, the sites the policy kept out, then JSON or its summary lines.
func (e *env) printSnapshot(v *vault.Vault, res *vault.SnapshotResult, name string) error {
	e.snapshotNotices(res, v.Repo)
	snap, st := res.Snapshot, res.Stats
	e.observeSnapshot(name, st)
	if e.json {
		return e.emitJSON(map[string]any{"id": res.ID.String(), "dataset": name, "class": snap.Class, "time": snap.Time,
			"parent": snap.Parent, "stats": st, "skipped": len(res.Skipped), "sites": res.Sites})
	}
	e.printf("snapshot %s of %s saved\n", res.ID.Short(), name)
	e.printf("  %d files, %d dirs, %s read (%d unchanged files reused)\n", st.Files, st.Dirs, humanBytes(st.Bytes), st.Unchanged)
	e.printf("  %d new blobs, %s new data stored as %s, in %.1fs\n", st.NewBlobs, humanBytes(st.NewRaw), humanBytes(st.NewStored), st.DurationSec)
	e.printf("  written to %s\n", strings.Join(res.Sites, ", "))
	return nil
}

// snapshotNotices prints what a snapshot tells on stderr, the same after
// 'embassy snapshot' and quickstart's: its notes, the files it skipped,
// the sites the policy kept out and the sites' reports.
func (e *env) snapshotNotices(res *vault.SnapshotResult, r *repo.Repo) {
	for _, n := range res.Notes {
		fmt.Fprintf(e.stderr, "embassy: note: %s\n", n)
	}
	for _, s := range res.Skipped {
		e.warnf("not in snapshot: %v", s)
	}
	e.noteDenied(res.Placement.Denied)
	e.reportSites(r)
}
