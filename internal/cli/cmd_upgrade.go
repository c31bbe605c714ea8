package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// cmdUpgrade moves a vault written before signed key records and signed
// state to the current format (repo.Upgrade).
func cmdUpgrade(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade",
		Short: "Sign an older vault's key records and write its signed state",
		Long: `Vaults written before this version have unsigned dataset key records and
no signed state, so a host could mint keys or replay manifests. Commands
refuse such a vault (exit 4) until it is upgraded once, on the home machine:

upgrade checks the home's root key against the sites' key epoch record,
takes the datasets and key versions the home's own mirror holds (records
found only at a site are reported and left out), and the manifests that
verify under the home's epoch keys, then rotates the root to a new epoch
whose key records are all signed and whose first signed state lists exactly
that. Custodians keep their identities; their shares are rewritten. Every
site must be reachable. On a vault that is already signed it re-signs the
snapshot manifests of format v1 (which bind no index set) as v2, keeping
their place; the v1 copies are forgotten. Running it again does nothing.`,
		Example: `  embassy upgrade`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			unlock, err := h.Lock("keys", true)
			if err != nil {
				return err
			}
			defer unlock()
			var sites []*repo.Site
			for _, sc := range h.Config.Sites {
				if !sc.Member {
					sites = append(sites, e.openSite(sc))
				}
			}
			meta, err := e.metaSite(h)
			if err != nil {
				return err
			}
			sites = append(sites, meta)
			r, err := repo.Open(e.ctx, repo.Options{Home: h.Config.Home, Sites: sites, Logger: e.log, OnAlert: e.vaultOf(h).SiteAlert, Legacy: true})
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			root, err := h.LoadRoot(r.CurrentEpoch().Epoch)
			if err != nil {
				return err
			}
			if err := r.SetRoot(root); err != nil {
				return err
			}
			rep, err := r.Upgrade(e.ctx, persistRoot(h))
			if err != nil {
				return err
			}
			if !rep.Already && rep.NewEpoch != rep.OldEpoch {
				retireRoots(h, rep.NewEpoch)
				e.audit(h, tlog.Entry{Kind: tlog.KindKeyRotate, Object: fmt.Sprint(rep.NewEpoch), Details: map[string]string{"reason": "upgrade", "datasets": fmt.Sprint(len(rep.Datasets)), "snapshots": fmt.Sprint(rep.Snapshots)}})
			}
			if rep.Rebound > 0 {
				e.audit(h, tlog.Entry{Kind: tlog.KindRepair, Object: "manifests", Details: map[string]string{"reason": "upgrade: v1 manifests re-signed as v2, bound to their index set", "snapshots": fmt.Sprint(rep.Rebound)}})
			}
			for _, w := range rep.Warnings {
				e.warnf("%s", w)
			}
			if e.json {
				return e.emitJSON(rep)
			}
			if rep.Already {
				e.printf("home %s is already upgraded (signed state %d, key epoch %d)\n", r.Home(), r.State().Seq, rep.NewEpoch)
				return nil
			}
			if rep.Rebound > 0 {
				e.printf("re-signed %d snapshot manifests of format v1, now bound to their index set\n", rep.Rebound)
			}
			if rep.OldEpoch == rep.NewEpoch {
				return nil
			}
			e.printf("upgraded home %s: key epoch %d -> %d; %d datasets (%s) and %d snapshots in the signed state\n",
				r.Home(), rep.OldEpoch, rep.NewEpoch, len(rep.Datasets), strings.Join(rep.Datasets, ", "), rep.Snapshots)
			for _, a := range rep.Ignored {
				e.warnf("not carried over: %s at site %s: %s", a.Object, a.Site, a.Detail)
			}
			e.printf("fingerprint: %s\n", r.Fingerprint())
			return nil
		},
	}
}
