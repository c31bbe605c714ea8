package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

// snapRow is a line of 'embassy snapshots' (its tests decode the JSON into it).
type snapRow = vault.SnapshotRow

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
			rows, bad, err := vault.ListSnapshots(e.ctx, r, args)
			if err != nil {
				return err
			}
			for _, b := range bad {
				e.warnf("snapshot %s of %s is damaged: %v", b.ID.Short(), b.Dataset, b.Err)
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
