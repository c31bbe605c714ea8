package cli

import (
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/repo"
)

func cmdSiteSync(e *env) *cobra.Command {
	var dry bool
	c := &cobra.Command{
		Use:   "sync",
		Short: "Catch up sites that missed writes (after an outage or an interrupted command)",
		Long: `Compare what every reachable site holds and copy each object a site lacks
from a site that has it, checking content-addressed objects against their
names on the way. Snapshots do this for their dataset before they start; run
it after a site comes back from an outage. With --dry-run it only reports
each site's lag in objects and bytes.`,
		Example: `  embassy site sync --dry-run --json
  embassy site sync`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openKeyed() // keys: the datasets' labels decide what may be copied
			if err != nil {
				return err
			}
			defer v.Close()
			res, err := v.Sync(e.ctx, dry)
			if err != nil {
				return err
			}
			r, st, lag := v.Repo, res.Copied, res.Lag
			e.reportSites(r)
			rows := make([]*repo.SiteLag, 0, len(lag))
			for _, l := range lag {
				rows = append(rows, l)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Site < rows[j].Site })
			if e.json {
				return e.emitJSON(map[string]any{"dry_run": dry, "copied_objects": st.Objects, "copied_bytes": st.Bytes, "lag": rows})
			}
			if !dry {
				e.printf("copied %s (%s)\n", plural(int(st.Objects), "object"), humanBytes(st.Bytes))
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SITE\tMISSING OBJECTS\tMISSING BYTES")
			for _, l := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", l.Site, l.Objects, humanBytes(l.Bytes))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVarP(&dry, "dry-run", "n", false, "only report each site's lag")
	return c
}
