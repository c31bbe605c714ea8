package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/check"
	"github.com/digital-embassy/embassy/internal/site/location"
)

func cmdSiteCheck(e *env) *cobra.Command {
	var large int64
	var create bool
	c := &cobra.Command{
		Use:   "check NAME|URL",
		Short: "Qualify a live site: run the storage contract's checks against it",
		Long: `Run the storage contract's essential checks against a live site (a registered
site by name, or any URL): write and read back, create-only writes (the site
must refuse to overwrite), concurrent create-only writes (exactly one wins),
ranged reads, stat, listing, missing objects, a large streamed object, and
deletion. The checks work in a scratch namespace and remove what they wrote.
Use it when qualifying a new host, before 'embassy site add'.

The check does not create the storage: 'embassy site add' creates a missing
bucket or folder, and so does 'site check --create' (which leaves it, empty).`,
		Example: `  embassy site check s3://10.0.0.5:9000/embassy
  embassy site check lu-1 --json
  embassy site check s3://10.0.0.5:9000/new-bucket --create`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			url, name := args[0], args[0]
			if h, err := e.openHome(); err == nil {
				if sc, _ := h.Site(args[0]); sc != nil {
					url = sc.URL
				}
			}
			b, err := location.Open(e.ctx, url, site.Properties{Name: name}, location.Options{Create: create})
			if err != nil {
				advice := "check the URL, the credentials and that the storage is reachable"
				if !create {
					advice += "; a bucket or folder that does not exist yet is created by 'embassy site add', or by 'embassy site check --create'"
				}
				return hint.Wrap(fmt.Errorf("open %s: %w", name, err), advice)
			}
			defer b.Close()
			res := check.Run(e.ctx, b, check.Options{LargeSize: large << 20})
			failed := 0
			for _, r := range res {
				if !r.OK {
					failed++
				}
			}
			if e.json {
				if err := e.emitJSON(map[string]any{"site": b.Properties().Location, "checks": res, "failed": failed}); err != nil {
					return err
				}
			} else {
				for _, r := range res {
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
			}
			if failed > 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("%d of %d checks failed at %s", failed, len(res), b.Properties().Location),
					"this storage cannot hold the vault safely as configured; see the failed checks"), hint.CodeDamaged)
			}
			e.printf("%s passed all %d checks\n", b.Properties().Location, len(res))
			return nil
		},
	}
	c.Flags().Int64Var(&large, "large-mib", 32, "size of the large-object check in MiB")
	c.Flags().BoolVar(&create, "create", false, "create the bucket or folder if it is missing (as 'site add' does); it stays, empty, after the check")
	return c
}
