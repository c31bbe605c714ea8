package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
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
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			defer v.Close()
			o := vault.RestoreOptions{Path: path, Overwrite: overwrite, Owners: (owners || os.Geteuid() == 0) && !noOwner, Progress: &vault.RestoreProgress{}}
			b := e.newBar("restore", func() (int64, int64) { return o.Progress.Bytes.Load(), o.Progress.TotalBytes.Load() })
			res, err := v.Restore(e.ctx, vault.RestoreRequest{Ref: args[0], Target: target, Options: o, By: "restore"})
			b.done()
			if err != nil {
				return err
			}
			e.noteDenied(res.Denied)
			e.reportSites(v.Repo)
			s, st := res.Snapshot, res.Stats
			for _, n := range st.Notes {
				fmt.Fprintf(e.stderr, "embassy: note: %s\n", n)
			}
			if e.json {
				return e.emitJSON(map[string]any{"snapshot": s.ID.String(), "dataset": res.Dataset, "target": target, "files": st.Files, "dirs": st.Dirs, "symlinks": st.Symlinks, "bytes": st.Bytes, "hard_links": st.HardLinks, "special": st.Special, "notes": st.Notes})
			}
			e.printf("restored snapshot %s of %s to %s: %d files, %d dirs, %d symlinks, %s\n", s.ID.Short(), res.Dataset, target, st.Files, st.Dirs, st.Symlinks, humanBytes(st.Bytes))
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
