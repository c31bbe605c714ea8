package repo

import (
	"context"
	"crypto/hpke"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
)

// RotateOptions configure a key rotation.
type RotateOptions struct {
	Custodians []Custodian // nil keeps the current custodians
	Threshold  int         // 0 keeps the current threshold
	// Persist is called with the new root before anything is written to the
	// sites, so that the home keeps it whatever happens next.
	Persist func(*keys.Root) error
	// Skip excludes datasets (by id) from the new epoch: used by shred.
	Skip map[string]bool
	// Now dates the new epoch record and key versions (the caller's
	// clock, as InitOptions.Now); zero means the wall clock.
	Now time.Time

	// seed lists the manifests of datasets the state does not list yet
	// (by id): set by Upgrade for a vault without signed state.
	seed     map[string][]ID
	datasets map[string]*DatasetKeys // instead of Datasets (Upgrade)
}

// RotateReport says what a rotation did.
type RotateReport struct {
	OldEpoch, NewEpoch uint32
	Datasets           int
	Retired            int // objects of the old epoch deleted
	Warnings           []string
}

// Rotate moves the home to a new root-key epoch: new root, new custodian
// shares (checked to reconstruct the new root before anything is retired),
// a new key version for every dataset so that new writes use new keys, and
// every existing key version re-wrapped under the new root so that old
// snapshots stay readable. The epoch record is written last: it is the
// commit point. Then the old epoch's shares and wrapped keys are deleted.
func (r *Repo) Rotate(ctx context.Context, o RotateOptions) (*RotateReport, error) {
	if err := r.needRoot(); err != nil {
		return nil, err
	}
	if errs := r.SiteErrors(); len(errs) > 0 {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("cannot rotate keys while sites are failing: %v", errs),
			"every site must take the new epoch; fix or remove the failing site first"), hint.CodeDamaged)
	}
	for _, s := range r.sites {
		if s.Backend == nil {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("site %s is unreachable", s.Name), "every site must take the new epoch; fix or remove it first"), hint.CodeDamaged)
		}
	}
	cur := r.epochs[r.current]
	custodians := o.Custodians
	if custodians == nil {
		custodians = cur.Custodians
	}
	for i := range custodians {
		custodians[i].Index = uint16(i + 1)
	}
	threshold := o.Threshold
	if threshold == 0 {
		threshold = cur.Threshold
	}
	if threshold < 1 || threshold > len(custodians) {
		return nil, hint.WithCode(fmt.Errorf("threshold %d is impossible with %s", threshold, countCustodians(len(custodians))), hint.CodeUsage)
	}
	if o.Now.IsZero() {
		o.Now = r.now()
	}
	now := o.Now.UTC()
	all := o.datasets
	if all == nil {
		var err error
		if all, err = r.Datasets(ctx); err != nil {
			return nil, err
		}
	}
	next := r.current + 1
	if err := r.clearEpoch(ctx, next); err != nil {
		return nil, err
	}
	newRoot, err := keys.NewRoot(next)
	if err != nil {
		return nil, err
	}
	if o.Persist != nil {
		if err := o.Persist(newRoot); err != nil {
			return nil, fmt.Errorf("save new root in the home: %w", err)
		}
	}
	newKEM, err := newRoot.PublicKEM()
	if err != nil {
		return nil, err
	}
	// Register the new epoch locally so that putDataKey can wrap under it.
	r.epochs[next] = &Epoch{EpochBody: EpochBody{Epoch: next}, kem: newKEM, sign: newRoot.SigningPublicKey()}
	rep := &RotateReport{OldEpoch: r.current, NewEpoch: next}
	versions := map[string][]uint32{}
	for _, d := range all {
		if o.Skip[d.ID] {
			continue
		}
		rep.Datasets++
		for v, k := range d.Keys {
			rec := *k.rec
			if err := r.putDataKey(ctx, &rec, next, newRoot.Signer()); err != nil {
				delete(r.epochs, next)
				return nil, err
			}
			versions[d.ID] = append(versions[d.ID], v)
		}
		nv := d.Current + 1
		base := d.Keys[d.Current].rec
		rec := &dataKeyRecord{Format: dataKeyFormat, Home: r.home, Dataset: d.Name, ID: d.ID, Version: nv,
			Created: now, Enc: randBytes(32), IDKey: base.IDKey, GearKey: base.GearKey}
		if err := r.putDataKey(ctx, rec, next, newRoot.Signer()); err != nil {
			delete(r.epochs, next)
			return nil, err
		}
		versions[d.ID] = append(versions[d.ID], nv)
	}
	// The new epoch's first state record carries over exactly what the
	// home holds now: manifests signed under older epochs stay valid only
	// because it lists them (docs/FORMAT.md §4.4).
	r.stateMu.Lock()
	err = r.writeStateLocked(ctx, next, newRoot.Signer(), func(st *StateBody) error {
		kept := st.Datasets[:0]
		for _, d := range st.Datasets {
			if o.Skip[d.ID] {
				continue
			}
			if vs, ok := versions[d.ID]; ok {
				slices.Sort(vs)
				d.Versions = vs
			}
			kept = append(kept, d)
		}
		st.Datasets = kept
		for _, d := range all {
			if o.Skip[d.ID] || st.Dataset(d.ID) != nil {
				continue
			}
			vs := versions[d.ID]
			slices.Sort(vs)
			sd := StateDataset{ID: d.ID, Name: d.Name, Versions: vs, Snapshots: o.seed[d.ID]}
			sd.Head.Seq = uint64(len(sd.Snapshots))
			if n := len(sd.Snapshots); n > 0 {
				l := sd.Snapshots[n-1]
				sd.Head.Latest = &l
			}
			st.Datasets = append(st.Datasets, sd)
		}
		sort.Slice(st.Datasets, func(i, j int) bool { return st.Datasets[i].Name < st.Datasets[j].Name })
		return nil
	})
	r.stateMu.Unlock()
	if err != nil {
		delete(r.epochs, next)
		return nil, err
	}
	// Shares, then the signed record (the commit point).
	crashpoint.Hit("repo.rotate.commit")
	if err := r.writeEpoch(ctx, newRoot, r.root, custodians, threshold, now); err != nil {
		delete(r.epochs, next)
		return nil, err
	}
	if errs := r.SiteErrors(); len(errs) > 0 {
		return nil, hint.WithCode(fmt.Errorf("rotation interrupted by failing sites %v; the old epoch is kept", errs), hint.CodeDamaged)
	}
	// Reload the verified epoch chain and switch to the new root.
	old := r.current
	r.root, r.current = newRoot, next
	if r.kem, err = newRoot.KEM(); err != nil {
		return nil, err
	}
	if err := r.loadConfig(ctx, r.firstUsable()); err != nil {
		return nil, fmt.Errorf("re-read key epochs after rotation: %w", err)
	}
	r.legacy = false
	if err := r.loadState(ctx); err != nil {
		return nil, fmt.Errorf("re-read vault state after rotation: %w", err)
	}
	r.mu.Lock()
	r.datasets = map[string]*DatasetKeys{}
	r.mu.Unlock()
	crashpoint.Hit("repo.rotate.retire")
	n, err := r.retireEpoch(ctx, old)
	rep.Retired = n
	if err != nil {
		rep.Warnings = append(rep.Warnings, err.Error())
	}
	return rep, nil
}

func (r *Repo) firstUsable() *Site {
	for _, s := range r.sites {
		if s.usable() {
			return s
		}
	}
	return r.sites[0]
}

// clearEpoch deletes leftovers of an interrupted rotation to epoch e.
func (r *Repo) clearEpoch(ctx context.Context, e uint32) error {
	if _, ok := r.epochs[e]; ok {
		return fmt.Errorf("epoch %d already exists", e)
	}
	_, err := r.deleteEpochObjects(ctx, e, nil)
	return err
}

// retireEpoch deletes an old epoch's custodian shares and wrapped keys.
// The epoch record stays: it verifies the signatures of old manifests.
func (r *Repo) retireEpoch(ctx context.Context, e uint32) (int, error) {
	return r.deleteEpochObjects(ctx, e, nil)
}

// deleteEpochObjects deletes shares and wrapped keys of epoch e (or, with
// dsid set, every wrapped key of that dataset in any epoch).
func (r *Repo) deleteEpochObjects(ctx context.Context, e uint32, dsid *string) (int, error) {
	var hs []site.Handle
	err := r.listUnion(ctx, site.KindKey, func(fi site.Info) error {
		if dsid != nil {
			if id, _, _, ok := parseDataKeyName(fi.Handle.Name); ok && id == *dsid {
				hs = append(hs, fi.Handle)
			}
			return nil
		}
		if se, _, ok := parseShareName(fi.Handle.Name); ok && se == e {
			hs = append(hs, fi.Handle)
		}
		if _, _, ke, ok := parseDataKeyName(fi.Handle.Name); ok && ke == e {
			hs = append(hs, fi.Handle)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, h := range hs {
		if err := r.DeleteAll(ctx, h); err != nil {
			errs = append(errs, err)
		}
	}
	return len(hs), errors.Join(errs...)
}

// ShredReport says what a crypto-shred did.
type ShredReport struct {
	Dataset     string   `json:"dataset"`
	DatasetID   string   `json:"dataset_id"`
	KeysDeleted int      `json:"wrapped_keys_deleted"`
	Objects     int      `json:"objects_deleted"`
	NewEpoch    uint32   `json:"new_epoch"`
	Warnings    []string `json:"warnings,omitempty"`
}

// Shred crypto-shreds a dataset: every wrapped copy of its keys is deleted
// at every site, the root moves to a new epoch (so that a copy a hostile
// host kept is wrapped under a retired root whose shares are gone), and its
// ciphertext is deleted where the sites allow it.
func (r *Repo) Shred(ctx context.Context, name string, persist func(*keys.Root) error) (*ShredReport, error) {
	d, err := r.Dataset(ctx, name)
	if err != nil {
		return nil, err
	}
	rep := &ShredReport{Dataset: name, DatasetID: d.ID}
	for _, s := range r.sites {
		if !s.usable() {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("site %s is unreachable", s.Name),
				"shred needs every site so that no wrapped key survives; fix or remove the site first"), hint.CodeDamaged)
		}
	}
	rot, err := r.Rotate(ctx, RotateOptions{Persist: persist, Skip: map[string]bool{d.ID: true}})
	if err != nil {
		return nil, err
	}
	rep.NewEpoch = rot.NewEpoch
	rep.Warnings = append(rep.Warnings, rot.Warnings...)
	dsid := d.ID
	crashpoint.Hit("repo.shred.keys")
	n, err := r.deleteEpochObjects(ctx, 0, &dsid)
	rep.KeysDeleted = n
	if err != nil {
		rep.Warnings = append(rep.Warnings, err.Error())
	}
	for _, k := range []site.Kind{site.KindSnapshot, site.KindIndex, site.KindPack} {
		var hs []site.Handle
		_ = r.listUnion(ctx, k, func(fi site.Info) error {
			if strings.HasPrefix(fi.Handle.Name, dsid+"/") {
				hs = append(hs, fi.Handle)
			}
			return nil
		})
		for _, h := range hs {
			if err := r.DeleteAll(ctx, h); err != nil {
				rep.Warnings = append(rep.Warnings, err.Error())
				continue
			}
			rep.Objects++
		}
	}
	// The home's index cache lists the shredded dataset's blob ids and
	// sizes: it goes too.
	if p := r.CachePath(dsid); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			rep.Warnings = append(rep.Warnings, err.Error())
		}
	}
	r.mu.Lock()
	delete(r.datasets, dsid)
	r.mu.Unlock()
	return rep, nil
}

// KEM returns the current root's private KEM key (for tests of shredding).
func (r *Repo) KEM() hpke.PrivateKey { return r.kem }
