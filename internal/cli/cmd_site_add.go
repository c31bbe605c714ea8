package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func cmdSiteAdd(e *env) *cobra.Command {
	var sc home.SiteConfig
	var location_ string
	var noCopy, member bool
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
			sc.Name = args[0]
			sc.Jurisdiction = strings.ToUpper(sc.Jurisdiction)
			if err := home.ValidSiteName(sc.Name); err != nil {
				return usageError{err}
			}
			if s, _ := h.Site(sc.Name); s != nil {
				return hint.WithCode(hint.Wrap(fmt.Errorf("site %q already exists", sc.Name), "choose another name, or remove it first with 'embassy site remove'"), hint.CodeUsage)
			}
			if sc.URL == "" {
				return usagef("missing --url: where the site stores objects (a folder, file:///path or s3://host/bucket)")
			}
			if sc.IsGroup() && sc.Jurisdiction == "" {
				sc.Jurisdiction = "MULTI"
			} else if err := home.ValidJurisdiction(sc.Jurisdiction); err != nil {
				return usageError{err}
			}
			sc.Member = member
			if location_ != "" {
				if _, _, err := home.ParseLatLon(location_); err != nil {
					return usageError{fmt.Errorf("--location %w", err)}
				}
				sc.Location = location_
			}
			lo := e.locationOptions(h)
			lo.Create = true
			b, err := location.Open(e.ctx, sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, lo)
			if err != nil {
				return hint.Wrap(fmt.Errorf("site %s: %w", sc.Name, err), "check the URL and that the storage is reachable")
			}
			defer b.Close()
			if sc.RetainDays > 0 && !b.Properties().ObjectLock {
				return hint.WithCode(hint.Wrap(fmt.Errorf("site %s does not enforce object lock, so --retain-days cannot be honoured", sc.Name),
					"use a bucket created with object lock enabled, or drop --retain-days"), hint.CodeUsage)
			}
			target := &repo.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Backend: b, RetainFor: time.Duration(sc.RetainDays) * 24 * time.Hour}
			copying := !noCopy && !member
			r, err := e.openRepo(h, copying) // keys: the datasets' labels decide what may be copied
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			if !sc.IsGroup() {
				if err := e.refuseSameStorage(h, r, sc.Name, b, "it would count as an extra copy"); err != nil {
					return err
				}
			}
			var st repo.CopyStats
			if copying {
				keep, err := e.replicationFilter(h, r, []home.SiteConfig{sc})
				if err != nil {
					return err
				}
				st, err = r.BackfillFiltered(e.ctx, target, keep, e.copyProgress())
				if err != nil {
					if errors.Is(err, repo.ErrForeignHome) {
						return hint.Wrap(err, "a site can hold only one home's vault; use an empty location")
					}
					return fmt.Errorf("copy vault to %s: %w", sc.Name, err)
				}
			}
			h.Config.Sites = append(h.Config.Sites, sc)
			if err := h.Save(); err != nil {
				return err
			}
			e.audit(h, tlog.Entry{Kind: tlog.KindSiteAdd, Site: sc.Name, Details: map[string]string{"jurisdiction": sc.Jurisdiction, "operator": sc.Operator, "agreement": sc.Agreement, "copied_objects": fmt.Sprint(st.Objects)}})
			if e.json {
				return e.emitJSON(map[string]any{"site": sc, "copied_objects": st.Objects, "copied_bytes": st.Bytes, "already_present": st.Present})
			}
			e.printf("Added site %s (%s) at %s\n", sc.Name, sc.Jurisdiction, b.Properties().Location)
			if d := home.DistanceKm(h.Config.HomeLocation, sc.Location); d >= 0 {
				e.printf("Distance from home: %.0f km\n", d)
			}
			e.printf("Copied %d objects (%s); %d were already there.\n", st.Objects, humanBytes(st.Bytes), st.Present)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&sc.URL, "url", "", "where the site stores objects: a folder, file:///path, or s3://host:port/bucket[/prefix]")
	f.StringVar(&sc.Jurisdiction, "jurisdiction", "", "ISO 3166-1 alpha-2 code of the site's country (LU, EE, CH, ...)")
	f.StringVar(&sc.Operator, "operator", "", "organisation operating the site")
	f.StringVar(&sc.Agreement, "agreement", "", "identifier of the agreement covering the site")
	f.StringVar(&location_, "location", "", "site coordinates as LAT,LON (for distance rules)")
	f.IntVar(&sc.Tier, "tier", 0, "facility tier rating (1-4)")
	f.BoolVar(&noCopy, "no-copy", false, "register only; do not copy the vault now")
	f.IntVar(&sc.RetainDays, "retain-days", 0, "keep vault data undeletable at the site for N days (S3 object lock, COMPLIANCE); keys stay deletable for shredding")
	f.BoolVar(&member, "member", false, "register the site only as a member of an erasure-coded group (it holds shards, not a replica)")
	return c
}
