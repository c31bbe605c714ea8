package cli

import (
	"strings"

	"github.com/spf13/cobra"
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
			rep, err := e.vaultOf(h).Upgrade(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(rep)
			}
			if rep.Already {
				e.printf("home %s is already upgraded (signed state %d, key epoch %d)\n", rep.Home, rep.StateSeq, rep.NewEpoch)
				return nil
			}
			if rep.Rebound > 0 {
				e.printf("re-signed %d snapshot manifests of format v1, now bound to their index set\n", rep.Rebound)
			}
			if rep.OldEpoch == rep.NewEpoch {
				return nil
			}
			e.printf("upgraded home %s: key epoch %d -> %d; %s (%s) and %s in the signed state\n",
				rep.Home, rep.OldEpoch, rep.NewEpoch, plural(len(rep.Datasets), "dataset"), strings.Join(rep.Datasets, ", "), plural(rep.Snapshots, "snapshot"))
			for _, a := range rep.Ignored {
				e.warnf("not carried over: %s at site %s: %s", a.Object, a.Site, a.Detail)
			}
			e.printf("fingerprint: %s\n", rep.Fingerprint)
			return nil
		},
	}
}
