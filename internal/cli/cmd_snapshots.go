package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

type snapRow struct {
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

func cmdSnapshots(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "snapshots [DATASET...]",
		Aliases: []string{"list"},
		Short:   "List snapshots, oldest first",
		Example: `  embassy snapshots
  embassy snapshots population-register --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			all, err := r.Datasets(e.ctx)
			if err != nil {
				return err
			}
			names := args
			if len(names) == 0 {
				for n := range all {
					names = append(names, n)
				}
				sort.Strings(names)
			}
			rows := []snapRow{}
			for _, n := range names {
				dk, err := r.Dataset(e.ctx, n)
				if err != nil {
					return err
				}
				d, err := r.OpenDataset(e.ctx, dk)
				if err != nil {
					return err
				}
				snaps, bad, err := d.Snapshots(e.ctx)
				if err != nil {
					return err
				}
				for id, err := range bad {
					e.warnf("snapshot %s of %s is damaged: %v", id.Short(), n, err)
				}
				for _, s := range snaps {
					rows = append(rows, snapRow{s.ID.String(), n, s.Time, s.Host, s.Class, s.Paths, s.Tags, s.Stats.Files, s.Stats.Bytes, s.Epoch, s.KeyVersion})
				}
			}
			e.reportSites(r)
			if e.json {
				return e.emitJSON(rows)
			}
			if len(rows) == 0 {
				e.printf("No snapshots yet. Take one with 'embassy snapshot DATASET PATH'.\n")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDATASET\tTIME\tCLASS\tFILES\tSIZE\tPATHS")
			for _, s := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.ID[:8], s.Dataset, s.Time.Local().Format("2006-01-02 15:04:05"), s.Class, s.Files, humanBytes(s.Bytes), strings.Join(s.Paths, " "))
			}
			return tw.Flush()
		},
	}
}
