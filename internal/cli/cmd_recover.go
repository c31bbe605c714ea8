package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func cmdRecover(e *env) *cobra.Command {
	var siteURL, name, jurisdiction, expectHome string
	var identities []string
	c := &cobra.Command{
		Use:   "recover --site URL --identity FILE --identity FILE ...",
		Short: "Rebuild a home on a new machine from one site and k custodians",
		Long: `Rebuild the home's root key from one site's copy of the vault and the
identities of at least k custodians, then create a home (in --home) that uses
that site. Nothing else is needed: the site holds the signed key-epoch
records and every custodian's encrypted share.

recover refuses fewer than k custodians, the same custodian twice, and
identities that are not custodians of the site's home. A hostile site can
present a vault it forged with the custodians' public recipients, so recover
needs --expect-home with the home fingerprint the custodians were given at
init: without it, recover prints the fingerprint the site presents and
refuses (exit 4); with a different one it refuses the site (exit 3).`,
		Example: `  embassy --home /srv/embassy recover --site /mnt/embassy-lu --expect-home fp1-... --identity alice.key --identity bob.key
  embassy recover --site s3://10.0.0.5:9000/embassy --name ch-1 --jurisdiction CH --identity a.key --identity b.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if siteURL == "" {
				return usagef("missing --site URL: a site holding the vault")
			}
			if len(identities) == 0 {
				return usagef("missing --identity FILE: give the identity files of at least k custodians")
			}
			dir, err := e.homePath()
			if err != nil {
				return err
			}
			if home.Exists(dir) {
				return hint.Wrap(fmt.Errorf("a home already exists at %s", dir), "recover into an empty --home")
			}
			var srcs []repo.IdentitySource
			for _, f := range identities {
				b, err := os.ReadFile(f)
				if err != nil {
					return hint.WithCode(fmt.Errorf("identity: %w", err), hint.CodeUsage)
				}
				ids, err := keys.ParseIdentities(b)
				if err != nil {
					return hint.WithCode(fmt.Errorf("identity %s: %w", f, err), hint.CodeKey)
				}
				srcs = append(srcs, repo.IdentitySource{Label: f, Identities: ids})
			}
			if name == "" {
				name = "recovered"
			}
			jurisdiction = strings.ToUpper(jurisdiction)
			if jurisdiction == "" {
				jurisdiction = "ZZ"
			}
			if err := home.ValidJurisdiction(jurisdiction); err != nil {
				return usageError{err}
			}
			b, err := location.Open(e.ctx, siteURL, site.Properties{Name: name, Jurisdiction: jurisdiction}, location.Options{})
			if err != nil {
				return hint.Wrap(fmt.Errorf("site %s: %w", siteURL, err), "check the URL and that the site is reachable")
			}
			defer b.Close()
			src := &repo.Site{Name: name, Jurisdiction: jurisdiction, Backend: b}
			rec, err := repo.RecoverExpect(e.ctx, src, srcs, expectHome)
			if err != nil {
				return err
			}
			cfg := home.Default()
			cfg.Home = rec.Home
			cfg.Sites = []home.SiteConfig{{Name: name, URL: siteURL, Jurisdiction: jurisdiction}}
			h, err := home.Create(dir, cfg)
			if err != nil {
				return err
			}
			if err := h.SaveRoot(rec.Home, rec.Root); err != nil {
				return err
			}
			r, err := e.openRepo(h, true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			meta, err := e.metaSite(h)
			if err != nil {
				return err
			}
			if _, err := r.Backfill(e.ctx, meta, nil); err != nil {
				return err
			}
			all, err := r.Datasets(e.ctx)
			if err != nil {
				return err
			}
			e.audit(h, tlog.Entry{Kind: tlog.KindRecover, Site: name, Details: map[string]string{"custodians": fmt.Sprint(len(rec.Used)), "threshold": fmt.Sprint(rec.Threshold), "epoch": fmt.Sprint(rec.Root.Epoch)}})
			if e.json {
				return e.emitJSON(map[string]any{"home": rec.Home, "dir": dir, "epoch": rec.Root.Epoch, "custodians_used": rec.Used, "threshold": rec.Threshold, "datasets": len(all), "site": name, "fingerprint": rec.Fingerprint, "state": rec.StateSeq})
			}
			e.printf("Recovered home %s into %s from site %s with %d of %d needed custodians (%s).\n",
				rec.Home, dir, name, len(rec.Used), rec.Threshold, strings.Join(rec.Used, ", "))
			e.printf("fingerprint: %s (vault state %d)\n", rec.Fingerprint, rec.StateSeq)
			e.printf("Root key epoch %d; %d datasets readable. Try 'embassy snapshots' or 'embassy restore DATASET --target DIR'.\n", rec.Root.Epoch, len(all))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&siteURL, "site", "", "URL of a site holding the vault (folder, file:// or s3://)")
	f.StringArrayVar(&identities, "identity", nil, "a custodian's identity file (repeat for k custodians)")
	f.StringVar(&name, "name", "recovered", "name to give the site in the new home")
	f.StringVar(&expectHome, "expect-home", "", expectHomeUsage)
	f.StringVar(&jurisdiction, "jurisdiction", "", "ISO 3166 code of the site (ZZ if unknown)")
	return c
}
