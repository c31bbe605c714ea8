package repo

import (
	"context"
	"fmt"
	"sort"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
)

// UpgradeReport says what Upgrade did.
type UpgradeReport struct {
	Already   bool     `json:"already_upgraded"`
	OldEpoch  uint32   `json:"old_epoch"`
	NewEpoch  uint32   `json:"new_epoch"`
	Datasets  []string `json:"datasets"`
	Snapshots int      `json:"snapshots"`
	Rebound   int      `json:"rebound"`           // v1 manifests re-signed as v2, bound to their index set
	Ignored   []Alert  `json:"ignored,omitempty"` // key records or manifests not carried over
	Warnings  []string `json:"warnings,omitempty"`
}

// Upgrade moves a vault written before signed key records and signed state
// to the current format: with the root key (checked against the sites'
// epoch record when the repository was opened), it takes the datasets and
// key versions the home's own mirror holds (key records found only at a
// site are reported and left out), the manifests that verify under the
// home's epoch keys, and rotates to a new epoch whose key records are all
// signed and whose first state record lists exactly that. Open the
// repository with Options.Legacy. On a vault that has signed state, and
// after the above, it re-signs every live v1 manifest as v2, bound to the
// index set (docs/FORMAT.md §10.1).
func (r *Repo) Upgrade(ctx context.Context, persist func(*keys.Root) error) (*UpgradeReport, error) {
	if err := r.needRoot(); err != nil {
		return nil, err
	}
	rep := &UpgradeReport{OldEpoch: r.current}
	if r.curState() != nil {
		n, warn, err := r.rebind(ctx)
		rep.Rebound, rep.Warnings = n, warn
		if err != nil {
			return rep, err
		}
		rep.Already, rep.NewEpoch = n == 0, r.current
		return rep, nil
	}
	r.legacy = true
	var meta *Site
	for _, s := range r.sites {
		if s.MetaOnly && s.Backend != nil {
			meta = s
		}
	}
	inMeta := map[string]bool{}
	if meta != nil {
		_ = meta.Backend.List(ctx, site.KindKey, func(fi site.Info) error {
			inMeta[fi.Handle.Name] = true
			return nil
		})
	}
	type ref struct {
		dsid string
		ver  uint32
	}
	refs := map[ref]bool{}
	err := r.listUnionSites(ctx, site.KindKey, func(s *Site, fi site.Info) error {
		dsid, v, e, ok := parseDataKeyName(fi.Handle.Name)
		if !ok || e != r.current {
			return nil
		}
		if len(inMeta) > 0 && !inMeta[fi.Handle.Name] {
			a := Alert{Site: s.Name, Attack: AttackMintedKey, Object: fi.Handle.String(), Detail: "key record found at a site but not in the home's mirror; not carried into the signed state"}
			r.alert(ctx, a)
			rep.Ignored = append(rep.Ignored, a)
			return nil
		}
		refs[ref{dsid, v}] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	byID := map[string]*DatasetKeys{}
	var unwrapped []Unwrap // every legacy record opened is a key use (OnUnwrap)
	if r.opts.OnUnwrap != nil {
		defer func() {
			if len(unwrapped) > 0 {
				r.opts.OnUnwrap(ctx, unwrapped)
			}
		}()
	}
	for rf := range refs {
		rec, from, err := r.loadDataKeyFrom(ctx, rf.dsid, rf.ver)
		if err != nil {
			return nil, err
		}
		unwrapped = append(unwrapped, Unwrap{Dataset: rf.dsid, Version: rf.ver, Epoch: r.current, Site: from, Used: true})
		k, err := rec.key()
		if err != nil {
			return nil, err
		}
		d := byID[rf.dsid]
		if d == nil {
			d = &DatasetKeys{Name: rec.Dataset, ID: rec.ID, Created: rec.Created, Keys: map[uint32]*DataKey{}}
			byID[rf.dsid] = d
		}
		d.Keys[rf.ver] = k
		d.Current = max(d.Current, rf.ver)
	}
	all := map[string]*DatasetKeys{}
	for _, d := range byID {
		if prev, dup := all[d.Name]; dup {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("two datasets are named %s (%s and %s) in the home's own mirror", d.Name, prev.ID, d.ID),
				"the home mirror itself is inconsistent; restore it from a backup of the home before upgrading"), hint.CodeDamaged)
		}
		all[d.Name] = d
	}
	seed := map[string][]ID{}
	for _, d := range all {
		ds := &Dataset{r: r, Keys: d, Idx: newIndex()}
		snaps, bad, err := ds.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		for id, e := range bad {
			a := Alert{Site: "*", Attack: AttackUnlistedSnap, Object: ds.SnapshotHandle(id).String(), Detail: "manifest does not verify; not carried into the signed state: " + e.Error()}
			rep.Ignored = append(rep.Ignored, a)
		}
		for _, s := range snaps {
			seed[d.ID] = append(seed[d.ID], s.ID)
		}
		rep.Snapshots += len(snaps)
		rep.Datasets = append(rep.Datasets, d.Name)
	}
	sort.Strings(rep.Datasets)
	r.mu.Lock()
	r.datasets = byID
	r.mu.Unlock()
	rot, err := r.Rotate(ctx, RotateOptions{Persist: persist, seed: seed, datasets: all})
	if err != nil {
		return nil, err
	}
	rep.NewEpoch, rep.Warnings = rot.NewEpoch, rot.Warnings
	n, warn, err := r.rebind(ctx)
	rep.Rebound, rep.Warnings = n, append(rep.Warnings, warn...)
	if err != nil {
		return rep, fmt.Errorf("re-sign manifests: %w; run 'embassy upgrade' again", err)
	}
	return rep, nil
}
