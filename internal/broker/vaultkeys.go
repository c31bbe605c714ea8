package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
)

// VaultKeys is a KeySource over today's repo API: it names the dataset's
// key versions with Repo.Dataset and reads each wrapped key record
// (docs/FORMAT.md, "dataset keys") from the home's mirror, unwrapping it
// with the root's KEM key. A shredded dataset has no records left.
type VaultKeys struct {
	Repo *repo.Repo
	Root *keys.Root
	Meta site.Backend // the home's mirror of key objects (<home>/meta)
}

var _ KeySource = (*VaultKeys)(nil)

type dataKeyRecord struct {
	Format  string `json:"format"`
	Home    string `json:"home"`
	Dataset string `json:"dataset"`
	ID      string `json:"dataset_id"`
	Version uint32 `json:"version"`
	Enc     []byte `json:"enc"`
	IDKey   []byte `json:"id_key"`
	GearKey []byte `json:"gear_key"`
}

// DatasetKey implements KeySource.
func (v *VaultKeys) DatasetKey(ctx context.Context, name string) (*KeyBundle, error) {
	d, err := v.Repo.Dataset(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDataset, err)
	}
	kem, err := v.Root.KEM()
	if err != nil {
		return nil, err
	}
	home, epoch := v.Repo.Home(), v.Root.Epoch
	kb := &KeyBundle{Format: KeyBundleFormat, Home: home, Dataset: name, DatasetID: d.ID, Current: d.Current}
	for ver := range d.Keys {
		h := site.Handle{Kind: site.KindKey, Name: fmt.Sprintf("datasets/%s/v%06d.e%08d", d.ID, ver, epoch)}
		var b []byte
		err := v.Meta.Get(ctx, h, 0, 0, func(r io.Reader) error {
			var err error
			b, err = io.ReadAll(io.LimitReader(r, 1<<20))
			return err
		})
		if errors.Is(err, site.ErrNotFound) {
			kb.Wipe()
			return nil, fmt.Errorf("%w: key version %d of %s is gone", ErrNoDataset, ver, name)
		}
		if err != nil {
			kb.Wipe()
			return nil, err
		}
		info := fmt.Appendf(nil, "embassy.v1 datakey %s %s %d %d", home, d.ID, ver, epoch)
		plain, err := keys.Unwrap(kem, info, b)
		if err != nil {
			kb.Wipe()
			return nil, fmt.Errorf("dataset %s key version %d: %w", name, ver, err)
		}
		var rec dataKeyRecord
		err = json.Unmarshal(plain, &rec)
		clear(plain)
		if err != nil || rec.Format != "embassy.datakey.v1" || rec.Home != home || rec.ID != d.ID || rec.Version != ver {
			kb.Wipe()
			return nil, fmt.Errorf("dataset %s key version %d: record does not match its name", name, ver)
		}
		kb.Keys = append(kb.Keys, BundleKey{Version: ver, Enc: rec.Enc, IDKey: rec.IDKey, GearKey: rec.GearKey})
	}
	return kb, nil
}
