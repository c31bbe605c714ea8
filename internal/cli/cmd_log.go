package cli

import (
	"strings"

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
			return e.printLog(res)
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
