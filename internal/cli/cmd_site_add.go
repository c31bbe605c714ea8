package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdSiteAdd(e *env) *cobra.Command {
	var sc home.SiteConfig
	var noCopy bool
	c := &cobra.Command{
		Use:   "add NAME --url URL --jurisdiction CC",
		Short: "Register a site and copy the vault to it",
		Long: `Register a storage site and bring it up to date: the vault's key records,
custodian shares and every pack, index and snapshot are copied to it from
the sites that already hold them (or, for a new home, from the home's mirror).
A local folder is created if it does not exist.`,
		Example: `  embassy site add lu-1 --url /mnt/embassy-lu --jurisdiction LU --operator "LU Government IT Centre"
  embassy site add ch-1 --url s3://10.0.0.5:9000/embassy --jurisdiction CH --location 46.2,6.1

  # Reed-Solomon 2+1 across three jurisdictions: no host holds a readable whole,
  # and the loss of any one site loses nothing.
  embassy site add lu-2 --member --url s3://lu.example:9000/shards --jurisdiction LU
  embassy site add ch-2 --member --url s3://ch.example:9000/shards --jurisdiction CH
  embassy site add fi-2 --member --url /mnt/fi-shards --jurisdiction FI
  embassy site add rs --url "erasure:2+1?members=lu-2,ch-2,fi-2"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if sc.URL == "" { // named by its flag here; CheckNewSite names the site
				return usagef("missing --url: where the site stores objects (a folder, file:///path or s3://host/bucket)")
			}
			sc.Name = args[0]
			if sc, err = vault.CheckNewSite(h, sc); err != nil {
				return err
			}
			v := e.vaultOf(h)
			defer v.Close()
			res, err := v.AddSite(e.ctx, vault.AddSiteRequest{Site: sc, NoCopy: noCopy, Progress: e.copyProgress()})
			if err != nil {
				return err
			}
			st := res.Copied
			if e.json {
				return e.emitJSON(map[string]any{"site": sc, "copied_objects": st.Objects, "copied_bytes": st.Bytes, "already_present": st.Present})
			}
			e.printf("Added site %s (%s) at %s\n", sc.Name, sc.Jurisdiction, res.Location)
			if d := home.DistanceKm(h.Config.HomeLocation, sc.Location); d >= 0 {
				e.printf("Distance from home: %.0f km\n", d)
			}
			e.printf("Copied %s (%s); %d were already there.\n", plural(int(st.Objects), "object"), humanBytes(st.Bytes), st.Present)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&sc.URL, "url", "", "where the site stores objects: a folder, file:///path, or s3://host:port/bucket[/prefix]")
	f.StringVar(&sc.Jurisdiction, "jurisdiction", "", "ISO 3166-1 alpha-2 code of the site's country (LU, EE, CH, ...)")
	f.StringVar(&sc.Operator, "operator", "", "organisation operating the site")
	f.StringVar(&sc.Agreement, "agreement", "", "identifier of the agreement covering the site")
	f.StringVar(&sc.Location, "location", "", "site coordinates as LAT,LON (for distance rules)")
	f.IntVar(&sc.Tier, "tier", 0, "facility tier rating (1-4)")
	f.BoolVar(&noCopy, "no-copy", false, "register only; do not copy the vault now")
	f.IntVar(&sc.RetainDays, "retain-days", 0, "keep vault data undeletable at the site for N days (S3 object lock, COMPLIANCE); keys stay deletable for shredding")
	f.BoolVar(&sc.Member, "member", false, "register the site only as a member of an erasure-coded group (it holds shards, not a replica)")
	return c
}
