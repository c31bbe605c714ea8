package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func cmdSnapshot(e *env) *cobra.Command {
	var classLabel, stdinName, host string
	var tags []string
	var force bool
	c := &cobra.Command{
		Use:   "snapshot DATASET PATH... | snapshot DATASET -",
		Short: "Take an encrypted, deduplicated snapshot of files, folders or a stream",
		Long: `Snapshot PATHs (files or folders) into DATASET, creating the dataset and its
keys on first use. Use "-" to read a stream from standard input, for example
the output of pg_dump. Content is chunked, deduplicated against everything
the dataset already holds, compressed where it shrinks, sealed, and written
to every site. Files unchanged since the previous snapshot (same size,
modification time, inode and ctime) are not read again.

An interrupted snapshot leaves nothing half-written; run it again and it
resumes without uploading again what was already stored.

--class labels the dataset with its classification: confidentiality,
integrity and availability levels 0-3 as in Estonia's ISKE, for example
C2-I3-A3, or one of the names public, internal, restricted, secret.`,
		Example: `  embassy snapshot population-register /srv/registry --class C2-I3-A3
  pg_dump land | embassy snapshot land-db - --stdin-filename land.sql --class restricted`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, paths := args[0], args[1:]
			if err := repo.ValidDatasetName(name); err != nil {
				return err
			}
			lbl := ""
			if classLabel != "" {
				l, err := class.Parse(classLabel)
				if err != nil {
					return hint.WithCode(err, hint.CodeUsage)
				}
				lbl = l.String()
			}
			stdin := len(paths) == 1 && paths[0] == "-"
			if !stdin {
				for _, p := range paths {
					if p == "-" {
						return usagef("\"-\" (standard input) cannot be combined with paths")
					}
					if _, err := os.Lstat(p); err != nil {
						return hint.WithCode(hint.Wrap(fmt.Errorf("source %v", err), "check the path"), hint.CodeUsage)
					}
				}
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if len(h.Config.Sites) == 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("home %s has no storage sites", h.Config.Home), "add one with 'embassy site add NAME --url DIR --jurisdiction CC'"), hint.CodeUsage)
			}
			r, err := e.openRepo(h, true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			dk, created, err := r.EnsureDataset(e.ctx, name)
			if err != nil {
				return err
			}
			unlock, err := h.Lock("dataset-"+dk.ID, false)
			if err != nil {
				return err
			}
			defer unlock()
			d, err := r.OpenDataset(e.ctx, dk)
			if err != nil {
				return err
			}
			abs := make([]string, len(paths))
			for i, p := range paths {
				if stdin {
					abs[i] = "-"
					continue
				}
				if abs[i], err = filepath.Abs(p); err != nil {
					return err
				}
			}
			var parent *repo.Snapshot
			if !created && !force {
				parent = findParent(e, d, abs)
			}
			if lbl == "" && parent != nil {
				lbl = parent.Class
			}
			// One policy decision per site: a site the dataset may not be
			// written to is skipped for this snapshot; none at all refuses it.
			// Catching the sites up comes after, so it skips denied sites too.
			if _, _, err := e.placeDataset(h, r, name, lbl); err != nil {
				return err
			}
			if st, err := r.SyncDataset(e.ctx, dk.ID); err != nil {
				return err
			} else if st.Objects > 0 {
				e.log.InfoContext(e.ctx, "sites caught up", "objects", st.Objects, "bytes", st.Bytes)
			}
			o := archiver.Options{Paths: abs, Parent: parent, Progress: &archiver.Progress{}}
			if stdin {
				o.Paths, o.Stdin, o.StdinName = nil, e.stdin, stdinName
			}
			b := e.newBar("snapshot", func() (int64, int64) { return o.Progress.Bytes.Load(), o.Progress.TotalBytes.Load() })
			res, err := archiver.Run(e.ctx, d, o)
			b.done()
			if err != nil {
				return err
			}
			if host == "" {
				host, _ = os.Hostname()
			}
			snap := &repo.Snapshot{Time: time.Now().UTC(), Host: host, Paths: abs, Class: lbl, Tree: res.Tree, Root: res.Root, Tags: tags, Stats: res.Stats}
			if parent != nil {
				pid := parent.ID
				snap.Parent = &pid
			}
			id, err := d.SaveSnapshot(e.ctx, snap)
			if err != nil {
				return err
			}
			for _, s := range res.Skipped {
				e.warnf("not in snapshot: %v", s)
			}
			for _, n := range res.Notes {
				fmt.Fprintf(e.stderr, "embassy: note: %s\n", n)
			}
			e.reportSites(r)
			e.audit(h, tlog.Entry{Kind: tlog.KindSnapshot, Dataset: dk.ID, Object: id.String(), Details: map[string]string{"class": lbl, "sites": strings.Join(siteNames(r), ","), "files": fmt.Sprint(res.Stats.Files), "new_blobs": fmt.Sprint(res.Stats.NewBlobs)}})
			if e.json {
				return e.emitJSON(map[string]any{"id": id.String(), "dataset": name, "class": lbl, "time": snap.Time,
					"parent": snap.Parent, "stats": res.Stats, "skipped": len(res.Skipped), "sites": siteNames(r)})
			}
			st := res.Stats
			e.printf("snapshot %s of %s saved\n", id.Short(), name)
			e.printf("  %d files, %d dirs, %s read (%d unchanged files reused)\n", st.Files, st.Dirs, humanBytes(st.Bytes), st.Unchanged)
			e.printf("  %d new blobs, %s new data stored as %s, in %.1fs\n", st.NewBlobs, humanBytes(st.NewRaw), humanBytes(st.NewStored), st.DurationSec)
			e.printf("  written to %s\n", strings.Join(siteNames(r), ", "))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&classLabel, "class", "", "classification label, e.g. C2-I3-A3 or restricted (kept from the previous snapshot if omitted)")
	f.StringVar(&stdinName, "stdin-filename", "stdin", "file name for data read from standard input")
	f.StringVar(&host, "host", "", "host name to record (default: this machine's)")
	f.StringArrayVar(&tags, "tag", nil, "tag to attach (repeatable)")
	f.BoolVar(&force, "force", false, "read every file again instead of reusing unchanged files from the previous snapshot")
	return c
}

// findParent picks the newest snapshot with the same paths.
func findParent(e *env, d *repo.Dataset, paths []string) *repo.Snapshot {
	snaps, _, err := d.Snapshots(e.ctx)
	if err != nil {
		return nil
	}
	want := append([]string(nil), paths...)
	sort.Strings(want)
	for i := len(snaps) - 1; i >= 0; i-- {
		got := append([]string(nil), snaps[i].Paths...)
		sort.Strings(got)
		if strings.Join(got, "\x00") == strings.Join(want, "\x00") {
			return snaps[i]
		}
	}
	return nil
}

func siteNames(r *repo.Repo) []string {
	var out []string
	for _, s := range r.Sites() {
		if s.Backend != nil && s.Err() == nil {
			out = append(out, s.Name)
		}
	}
	return out
}
