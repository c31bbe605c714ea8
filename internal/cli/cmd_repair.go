package cli

import (
	"github.com/spf13/cobra"
)

func cmdRepair(e *env) *cobra.Command {
	var readData, dry bool
	var sites []string
	c := &cobra.Command{
		Use:   "repair [--read-data] [--site NAME] [--dry-run]",
		Short: "Rebuild what a site lost or damaged from the intact copies at other sites",
		Long: `Verify every site (reading all data with --read-data), then for each missing
or damaged object at a site copy an intact one from another site: content-
addressed objects must hash to their name before they are copied. Reports
every action, then verifies again. Damage no other site can repair is
reported and the command exits with code 3.

With --site only that site is checked and repaired (the others serve as
sources): 'embassy repair --site S --read-data' repairs what
'embassy verify --site S --proof' found, since it reads every object the
proof sampled from.`,
		Example: `  embassy repair --read-data
  embassy repair --site lu-1 --read-data
  embassy repair --dry-run --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			res, err := e.vaultOf(h).Repair(e.ctx, readData, dry, sites...)
			if err != nil {
				return err
			}
			return e.printRepair(res, dry)
		},
	}
	c.Flags().BoolVar(&readData, "read-data", false, "verify every object's content, not only its presence and size")
	c.Flags().StringArrayVar(&sites, "site", nil, "check and repair only this site (repeatable)")
	c.Flags().BoolVarP(&dry, "dry-run", "n", false, "only report what would be repaired")
	return c
}
