package vault

// Crypto-shredding one dataset.

import (
	"context"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Shred crypto-shreds dataset name (repo.Shred: every wrapped copy of its
// keys deleted at every site, the root moved to a new epoch, its
// ciphertext deleted where the sites allow it), holding the keys lock and
// the dataset's lock exclusively, then retires the old root keys in the
// home and records the shred. It cannot be undone.
func (v *Vault) Shred(ctx context.Context, name string) (*repo.ShredReport, error) {
	r, release, err := v.keyed(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return v.shred(ctx, r, name, "")
}

// shred is Shred with the keys lock held and r open over it.
func (v *Vault) shred(ctx context.Context, r *repo.Repo, name, why string) (*repo.ShredReport, error) {
	dk, err := r.Dataset(ctx, name)
	if err != nil {
		return nil, err
	}
	unlock, err := v.LockDataset(ctx, OpShred, dk)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep, err := r.Shred(ctx, name, v.KeepRoot())
	if err != nil {
		return nil, err
	}
	v.RetireRoots(rep.NewEpoch)
	for _, w := range rep.Warnings {
		v.Warnf("%s", w)
	}
	v.Recorder().Audit(ctx, tlog.KeyShred(tlog.ShredFacts{DatasetID: rep.DatasetID, KeysDeleted: rep.KeysDeleted,
		Objects: rep.Objects, NewEpoch: rep.NewEpoch, For: why}))
	return rep, nil
}
