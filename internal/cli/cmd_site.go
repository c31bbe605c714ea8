package cli

import (
	"github.com/spf13/cobra"
)

func cmdSite(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "site",
		Short: "Manage the storage sites that hold the vault",
		Long: `Sites are the places abroad (or at home) that hold complete encrypted copies
of the vault: a local folder (the embedded default: a plain path or file:///path)
or an S3-compatible bucket (s3://host:port/bucket/prefix). Every site holds a
full replica and is self-describing.`,
	}
	c.AddCommand(cmdSiteAdd(e), cmdSiteList(e), cmdSiteRemove(e), cmdSiteCheck(e), cmdSiteSync(e), cmdSiteEvents(e), cmdSiteLocate(e))
	return c
}
