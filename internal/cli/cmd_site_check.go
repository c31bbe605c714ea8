package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdSiteCheck(e *env) *cobra.Command {
	var req vault.SiteCheckRequest
	c := &cobra.Command{
		Use:   "check NAME|URL",
		Short: "Qualify a live site: run the storage contract's checks against it",
		Long:  helpText("site_check"),
		Example: `  embassy site check s3://10.0.0.5:9000/embassy
  embassy site check lu-1 --json
  embassy site check s3://10.0.0.5:9000/new-bucket --create`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Target = args[0]
			var h *home.Home
			if hh, err := e.openHome(); err == nil {
				h = hh
			}
			res, err := vault.CheckSite(e.ctx, h, req)
			if res == nil {
				return err
			}
			if e.json {
				if jerr := e.emitJSON(res); jerr != nil {
					return jerr
				}
				return err
			}
			for _, r := range res.Checks {
				mark := "ok  "
				if !r.OK {
					mark = "FAIL"
				}
				fmt.Fprintf(e.stdout, "%s %-50s %8s", mark, r.Name, r.Duration.Round(time.Millisecond))
				if r.Detail != "" {
					fmt.Fprintf(e.stdout, "  %s", r.Detail)
				}
				fmt.Fprintln(e.stdout)
			}
			if err == nil {
				e.printf("%s passed all %d checks\n", res.Site, len(res.Checks))
			}
			return err
		},
	}
	c.Flags().Int64Var(&req.LargeMiB, "large-mib", 32, "size of the large-object check in MiB")
	c.Flags().BoolVar(&req.Create, "create", false, "create the bucket or folder if it is missing (as 'site add' does); it stays, empty, after the check")
	return c
}
