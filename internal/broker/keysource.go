package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// KeyBundleFormat identifies a released key bundle.
const KeyBundleFormat = "embassy.broker.keys.v1"

// KeyBundle is what a release hands the workload: every key version of one
// dataset, enough to read (not to write) the dataset from any site.
type KeyBundle struct {
	Format    string      `json:"format"`
	Home      string      `json:"home"`
	Dataset   string      `json:"dataset"`
	DatasetID string      `json:"dataset_id"`
	Current   uint32      `json:"current"`
	Keys      []BundleKey `json:"keys"`
}

// BundleKey is one key version.
type BundleKey struct {
	Version uint32 `json:"version"`
	Enc     []byte `json:"enc"`
	IDKey   []byte `json:"id_key"`
	GearKey []byte `json:"gear_key"`
}

// Wipe zeroes the bundle's secrets.
func (k *KeyBundle) Wipe() {
	for i := range k.Keys {
		clear(k.Keys[i].Enc)
		clear(k.Keys[i].IDKey)
		clear(k.Keys[i].GearKey)
	}
}

// ParseKeyBundle decodes a bundle and checks its shape.
func ParseKeyBundle(b []byte) (*KeyBundle, error) {
	var k KeyBundle
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("key bundle: %w", err)
	}
	if k.Format != KeyBundleFormat || len(k.Keys) == 0 {
		return nil, errors.New("key bundle: wrong format or no keys")
	}
	for _, v := range k.Keys {
		if len(v.Enc) != 32 || len(v.IDKey) != 32 || len(v.GearKey) != 32 {
			return nil, fmt.Errorf("key bundle: key version %d has the wrong size", v.Version)
		}
	}
	return &k, nil
}

// KeySource gives the broker a dataset's keys. ErrNoDataset (wrapped) means
// the dataset does not exist or was shredded.
type KeySource interface {
	DatasetKey(ctx context.Context, name string) (*KeyBundle, error)
}

// ErrNoDataset is returned by a KeySource for an unknown or shredded dataset.
var ErrNoDataset = errors.New("no such dataset (unknown or shredded)")

// noDataset is an ErrNoDataset that says which dataset or key version, in
// one statement.
type noDataset string

func (e noDataset) Error() string        { return string(e) }
func (e noDataset) Is(target error) bool { return target == ErrNoDataset }
