package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/vault"
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
			req := vault.SnapshotRequest{Dataset: name, Class: classLabel, Host: host, Tags: tags, Force: force,
				Progress: &vault.Progress{}, By: "snapshot"}
			if _, err := vault.CanonicalClass(classLabel); err != nil {
				return err
			}
			if len(paths) == 1 && paths[0] == "-" {
				req.Stdin, req.StdinName = e.stdin, stdinName
			} else {
				for _, p := range paths {
					if p == "-" {
						return usagef("\"-\" (standard input) cannot be combined with paths")
					}
					if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
						return hint.WithCode(hint.Wrap(fmt.Errorf("source %s does not exist", p), "check the path"), hint.CodeUsage)
					} else if err != nil {
						return hint.WithCode(hint.Wrap(fmt.Errorf("source %v", err), "check the path"), hint.CodeUsage)
					}
				}
				req.Paths = paths
			}
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			defer v.Close()
			b := e.newBar("snapshot", func() (int64, int64) { return req.Progress.Bytes.Load(), req.Progress.TotalBytes.Load() })
			res, err := v.Snapshot(e.ctx, req)
			b.done()
			if err != nil {
				return err
			}
			return e.printSnapshot(v, res, name)
		},
	}
	f := c.Flags()
	f.StringVar(&classLabel, "class", "", "classification label, e.g. C2-I3-A3 or restricted (the dataset keeps its class if omitted)")
	f.StringVar(&stdinName, "stdin-filename", "stdin", "file name for data read from standard input")
	f.StringVar(&host, "host", "", "host name to record (default: this machine's)")
	f.StringArrayVar(&tags, "tag", nil, "tag to attach (repeatable)")
	f.BoolVar(&force, "force", false, "read every file again instead of reusing unchanged files from the previous snapshot")
	return c
}
