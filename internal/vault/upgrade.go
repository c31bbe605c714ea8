package vault

import (
	"context"
	"fmt"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// UpgradeResult is 'embassy upgrade”s outcome: repo.Upgrade's report and
// the vault it left.
type UpgradeResult struct {
	*repo.UpgradeReport
	Home        string `json:"home"`
	StateSeq    uint64 `json:"state_seq"`
	Fingerprint string `json:"fingerprint"`
}

// Upgrade moves a vault written before signed key records and signed state
// to the current format (repo.Upgrade), holding the keys lock; every site
// must be reachable. The key records it unwraps are logged like any other
// unwrap (key.unwrap through the pending journal), the new epoch as
// key.rotate and re-signed v1 manifests as repair.
func (v *Vault) Upgrade(ctx context.Context) (*UpgradeResult, error) {
	h := v.Home
	unlock, err := h.Lock(KeysLockName, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var sites []*repo.Site
	for _, sc := range h.Config.Sites {
		if !sc.Member {
			sites = append(sites, v.OpenSite(ctx, sc))
		}
	}
	meta, err := v.MetaSite(ctx)
	if err != nil {
		return nil, err
	}
	sites = append(sites, meta)
	r, err := repo.Open(ctx, repo.Options{Home: h.Config.Home, Sites: sites, Logger: v.log, Now: v.clock, OnAlert: v.siteAlert,
		OnUnwrap: v.recordUnwraps, Legacy: true})
	if err != nil {
		return nil, err
	}
	defer closeSites(r)
	root, err := h.LoadRoot(r.CurrentEpoch().Epoch)
	if err != nil {
		return nil, err
	}
	if err := r.SetRoot(root); err != nil {
		return nil, err
	}
	rep, err := r.Upgrade(ctx, v.KeepRoot())
	if err != nil {
		return nil, err
	}
	if !rep.Already && rep.NewEpoch != rep.OldEpoch {
		v.RetireRoots(rep.NewEpoch)
		v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindKeyRotate, Object: fmt.Sprint(rep.NewEpoch),
			Details: map[string]string{"reason": "upgrade", "datasets": fmt.Sprint(len(rep.Datasets)), "snapshots": fmt.Sprint(rep.Snapshots)}})
	}
	if rep.Rebound > 0 {
		v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindRepair, Object: "manifests",
			Details: map[string]string{"reason": "upgrade: v1 manifests re-signed as v2, bound to their index set", "snapshots": fmt.Sprint(rep.Rebound)}})
	}
	for _, w := range rep.Warnings {
		v.Warnf("%s", w)
	}
	res := &UpgradeResult{UpgradeReport: rep, Home: r.Home(), Fingerprint: r.Fingerprint()}
	if st := r.State(); st != nil {
		res.StateSeq = st.Seq
	}
	return res, nil
}
