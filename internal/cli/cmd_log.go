package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdLog(e *env) *cobra.Command {
	var kinds []string
	var since, until, site, dataset string
	var limit int
	c := &cobra.Command{
		Use:   "log",
		Short: "List the transparency log's entries",
		Long: `List the entries of the home's transparency log: every snapshot, restore,
key use, rotation, shred, recovery, site change and access disclosure, in
the order they were logged.

Before anything is printed, the published checkpoint is checked against the
policy (the log's signature and the witness quorum's cosignatures) and the
stored entries are checked against the checkpoint's Merkle root, so an
edited, truncated or reordered log is reported (exit code 3), not listed.

Entry kinds: ` + strings.Join(tlog.Kinds, ", ") + `.`,
		Example: `  embassy log
  embassy log --kind disclosure --since 7d
  embassy log --kind key.rotate --kind key.shred --json
  embassy log --site lu-1 --since 2026-11-01 --until 2026-11-30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to, err := parseRange(since, until, e.now())
			if err != nil {
				return err
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).Log(e.ctx, vault.LogQuery{Kinds: kinds, Site: site, Dataset: dataset, From: from, To: to, Limit: limit})
			if err != nil {
				return err
			}
			rows := res.Entries
			if e.json {
				return e.emitJSON(rows)
			}
			if e.quiet {
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "INDEX\tTIME\tKIND\tACTOR\tSITE\tDATASET\tOBJECT\tREASON")
			for _, x := range rows {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Index, x.Time.Local().Format("2006-01-02 15:04:05"),
					x.Kind, logDash(x.Actor), logDash(x.Site), logDash(x.Dataset), logDash(logClip(x.Object, 16)), logDash(x.Reason))
			}
			tw.Flush()
			if res.Size > 0 {
				fmt.Fprintf(e.stdout, "%d of %d entries; checkpoint %d cosigned by the witness quorum\n", len(rows), res.Size, res.Size)
			}
			if n := len(res.Pending); n > 0 {
				fmt.Fprintf(e.stdout, "%d key.unwrap entries of read-only commands pending in log/%s: appended with the next command that writes the log\n", n, vault.PendingFile)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringSliceVar(&kinds, "kind", nil, "only entries of this kind (repeatable)")
	f.StringVar(&since, "since", "", "only entries logged at or after this time (RFC 3339, date, or duration ago: 24h, 7d)")
	f.StringVar(&until, "until", "", "only entries logged at or before this time")
	f.StringVar(&site, "site", "", "only entries about this site")
	f.StringVar(&dataset, "dataset", "", "only entries about this dataset (its name, or its id)")
	f.IntVar(&limit, "limit", 0, "only the last N matching entries")
	return c
}

func logDash(s string) string {
	if s == "" {
		return "-"
	}
	return termSafe(s) // entries hold host-written text (cmd_disclose.go)
}

func logClip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
