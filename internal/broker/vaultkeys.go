package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
)

// VaultKeys is a KeySource over the vault: the dataset's authenticated
// key versions from Repo.Dataset (signed records listed in the signed
// vault state). A shredded dataset has no records left.
type VaultKeys struct {
	Repo *repo.Repo
	Root *keys.Root
	Meta site.Backend // the home's mirror of key objects (<home>/meta)

	// Newest, when set with Reopen, reports the newest root epoch the home
	// holds (cheap: the home's key file names). When it is newer than the
	// view's, the broker calls Reopen for a fresh view of the vault and its
	// current root key: after 'embassy key rotate' moved every dataset to a
	// new key version under a new epoch, a running broker releases the new
	// versions without a restart. The signed vault state stays the
	// authority: a view whose epoch did not advance is kept, and the same
	// newest epoch is not reopened again (after a failed reopen it is).
	// Views replaced are not closed here (requests in flight may hold
	// them); Reopen's caller closes them at exit.
	Newest func() uint32
	Reopen func(ctx context.Context) (*repo.Repo, *keys.Root, error)

	mu    sync.Mutex
	tried uint32 // the newest home epoch a reopen succeeded for
}

var _ KeySource = (*VaultKeys)(nil)

// DatasetKey implements KeySource: the dataset's key versions as the vault
// authenticated them (signed records listed in the signed vault state; a
// version a host minted is never among them).
func (v *VaultKeys) DatasetKey(ctx context.Context, name string) (*KeyBundle, error) {
	r, root, err := v.view(ctx)
	if err != nil {
		return nil, err
	}
	return datasetKey(ctx, r, root, v.Meta, name)
}

// view returns the current vault view, reopening it first if the home
// holds a newer root epoch than the view's.
func (v *VaultKeys) view(ctx context.Context) (*repo.Repo, *keys.Root, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.Newest == nil || v.Reopen == nil {
		return v.Repo, v.Root, nil
	}
	n := v.Newest()
	if n <= v.Root.Epoch || n == v.tried {
		return v.Repo, v.Root, nil
	}
	r, root, err := v.Reopen(ctx)
	if err != nil {
		// Not marked tried: the next release tries again (a site may be
		// back); only attested, policy-approved requests get here.
		return nil, nil, fmt.Errorf("reopen the vault after a root rotation to epoch %d: %w", n, err)
	}
	v.tried = n
	if root.Epoch > v.Root.Epoch {
		v.Repo, v.Root = r, root
	}
	return v.Repo, v.Root, nil
}

func datasetKey(ctx context.Context, r *repo.Repo, root *keys.Root, meta site.Backend, name string) (*KeyBundle, error) {
	d, err := r.Dataset(ctx, name)
	if err != nil {
		return nil, noDataset(fmt.Sprintf("dataset %s is unknown or shredded", name))
	}
	kb := &KeyBundle{Format: KeyBundleFormat, Home: r.Home(), Dataset: name, DatasetID: d.ID, Current: d.Current}
	vers := make([]uint32, 0, len(d.Keys))
	for ver := range d.Keys {
		vers = append(vers, ver)
	}
	slices.Sort(vers)
	for _, ver := range vers {
		// The broker runs for long: a version shredded since it opened the
		// vault is gone from the home's mirror, and is never released.
		h := site.Handle{Kind: site.KindKey, Name: fmt.Sprintf("datasets/%s/v%06d.e%08d", d.ID, ver, root.Epoch)}
		if _, err := meta.Stat(ctx, h); err != nil {
			kb.Wipe()
			if errors.Is(err, site.ErrNotFound) {
				return nil, noDataset(fmt.Sprintf("key version %d of dataset %s is gone (shredded)", ver, name))
			}
			return nil, err
		}
		enc, idk, gk := d.Keys[ver].Material()
		if len(enc) == 0 {
			kb.Wipe()
			return nil, noDataset(fmt.Sprintf("key version %d of dataset %s has no key material (shredded)", ver, name))
		}
		kb.Keys = append(kb.Keys, BundleKey{Version: ver, Enc: enc, IDKey: idk, GearKey: gk})
	}
	return kb, nil
}
