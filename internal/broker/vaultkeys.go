package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
}

var _ KeySource = (*VaultKeys)(nil)

// DatasetKey implements KeySource: the dataset's key versions as the vault
// authenticated them (signed records listed in the signed vault state; a
// version a host minted is never among them).
func (v *VaultKeys) DatasetKey(ctx context.Context, name string) (*KeyBundle, error) {
	d, err := v.Repo.Dataset(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDataset, err)
	}
	kb := &KeyBundle{Format: KeyBundleFormat, Home: v.Repo.Home(), Dataset: name, DatasetID: d.ID, Current: d.Current}
	vers := make([]uint32, 0, len(d.Keys))
	for ver := range d.Keys {
		vers = append(vers, ver)
	}
	slices.Sort(vers)
	for _, ver := range vers {
		// The broker runs for long: a version shredded since it opened the
		// vault is gone from the home's mirror, and is never released.
		h := site.Handle{Kind: site.KindKey, Name: fmt.Sprintf("datasets/%s/v%06d.e%08d", d.ID, ver, v.Root.Epoch)}
		if _, err := v.Meta.Stat(ctx, h); err != nil {
			kb.Wipe()
			if errors.Is(err, site.ErrNotFound) {
				return nil, fmt.Errorf("%w: key version %d of %s is gone (shredded)", ErrNoDataset, ver, name)
			}
			return nil, err
		}
		enc, idk, gk := d.Keys[ver].Material()
		if len(enc) == 0 {
			kb.Wipe()
			return nil, fmt.Errorf("%w: key version %d of %s has no key material", ErrNoDataset, ver, name)
		}
		kb.Keys = append(kb.Keys, BundleKey{Version: ver, Enc: enc, IDKey: idk, GearKey: gk})
	}
	return kb, nil
}
