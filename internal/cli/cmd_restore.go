package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func cmdRestore(e *env) *cobra.Command {
	var target, path string
	var overwrite, owners, noOwner bool
	c := &cobra.Command{
		Use:   "restore DATASET[@ID] --target DIR [--path P]",
		Short: "Restore a snapshot byte-exact, with modes, times, symlinks and empty folders",
		Long: `Restore a snapshot (the latest if no @ID is given; an ID prefix is enough)
into DIR. Blobs are read from the first site that returns an authentic copy,
falling back to the others. With --path only that file or folder of the
snapshot is restored, at the same relative place under DIR.`,
		Example: `  embassy restore population-register --target /tmp/restore
  embassy restore population-register@3fa2c1 --target /tmp/r --path documents/2024`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target == "" {
				return usagef("missing --target DIR: where to restore")
			}
			r, d, s, err := e.openSnapshot(args[0])
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			if !r.LocalFirst() {
				d.ReadAhead = 4 << 20 // remote sites: one request per 4 MiB of a pack, not per blob
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			// One decision per site: a denied site is not read; none allowed refuses.
			if err := e.gateReads(h, r, policy.Restore, policy.Dataset{Name: d.Keys.Name, Class: s.Class}); err != nil {
				return err
			}
			o := restorer.Options{Path: path, Overwrite: overwrite, Owners: (owners || os.Geteuid() == 0) && !noOwner, Progress: &restorer.Progress{}}
			b := e.newBar("restore", func() (int64, int64) { return o.Progress.Bytes.Load(), o.Progress.TotalBytes.Load() })
			st, err := restorer.Restore(e.ctx, d, s, target, o)
			b.done()
			if err != nil {
				return err
			}
			for _, n := range st.Notes {
				fmt.Fprintf(e.stderr, "embassy: note: %s\n", n)
			}
			e.reportSites(r)
			e.audit(h, tlog.Entry{Kind: tlog.KindRestore, Dataset: d.Keys.ID, Object: s.ID.String(), Details: map[string]string{"files": fmt.Sprint(st.Files)}})
			if e.json {
				return e.emitJSON(map[string]any{"snapshot": s.ID.String(), "dataset": d.Keys.Name, "target": target, "files": st.Files, "dirs": st.Dirs, "symlinks": st.Symlinks, "bytes": st.Bytes, "hard_links": st.HardLinks, "special": st.Special, "notes": st.Notes})
			}
			e.printf("restored snapshot %s of %s to %s: %d files, %d dirs, %d symlinks, %s\n", s.ID.Short(), d.Keys.Name, target, st.Files, st.Dirs, st.Symlinks, humanBytes(st.Bytes))
			return nil
		},
	}
	c.Flags().StringVarP(&target, "target", "t", "", "folder to restore into (created if missing)")
	c.Flags().StringVar(&path, "path", "", "restore only this file or folder of the snapshot")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace files that already exist in the target")
	c.Flags().BoolVar(&owners, "owners", false, "restore file owners (the default when running as root)")
	c.Flags().BoolVar(&noOwner, "no-owner", false, "do not restore file owners, even as root")
	return c
}
