package vault

// Re-keying the home: rotation to a new root-key epoch. Shred (shred.go)
// is a rotation that leaves one dataset behind.

import (
	"context"
	"errors"
	"fmt"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// RotateRequest asks for a new root-key epoch.
type RotateRequest struct {
	// Custodians are the recipients of the new shares (age recipients);
	// nil keeps the current custodians.
	Custodians []string
	// Threshold is the new number of shares needed; 0 keeps it.
	Threshold int
}

// KeysLockName is the home lock every re-keying operation (rotate, shred,
// exit, recover, upgrade) holds exclusively: two never interleave.
const KeysLockName = "keys"

// KeepRoot returns the callback that saves a new root key in the home
// before anything is written to the sites.
func KeepRoot(h *home.Home) func(*keys.Root) error {
	return func(r *keys.Root) error { return h.SaveRoot(h.Config.Home, r) }
}

// RetireRoots deletes the home's root keys of epochs before current: the
// shares of those epochs are gone at the sites, and so must the keys be.
func RetireRoots(h *home.Home, current uint32) error {
	var errs []error
	for _, ep := range h.Roots() {
		if ep < current {
			if err := h.DeleteRoot(ep); err != nil {
				errs = append(errs, fmt.Errorf("root key of retired epoch %d is still in the home: %w (delete it by hand)", ep, err))
			}
		}
	}
	return errors.Join(errs...)
}

// KeepRoot is KeepRoot of the vault's home.
func (v *Vault) KeepRoot() func(*keys.Root) error { return KeepRoot(v.Home) }

// RetireRoots is RetireRoots of the vault's home; a key that could not be
// deleted is reported, the operation having succeeded.
func (v *Vault) RetireRoots(current uint32) {
	if err := RetireRoots(v.Home, current); err != nil {
		v.Warnf("%v", err)
	}
}

// keyed takes the home's keys lock and opens a fresh repository with the
// root key under it, so that the re-keying sees the epoch another process
// may just have committed. release closes both.
func (v *Vault) keyed(ctx context.Context) (r *repo.Repo, release func(), err error) {
	unlock, err := v.Home.Lock(KeysLockName, true)
	if err != nil {
		return nil, nil, err
	}
	r, err = v.OpenRepo(ctx, true)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return r, func() {
		if r != v.Repo {
			closeSites(r)
		}
		unlock()
	}, nil
}

// Rotate moves the home to a new root-key epoch and every dataset to a new
// key version (repo.Rotate), holding the keys lock and every dataset's
// lock exclusively (no reader may run while keys are re-wrapped and
// retired), retires the old root keys in the home and records the
// rotation.
func (v *Vault) Rotate(ctx context.Context, req RotateRequest) (*repo.RotateReport, *repo.Epoch, error) {
	r, release, err := v.keyed(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	unlockAll, err := v.LockAll(ctx, OpRotate, r)
	if err != nil {
		return nil, nil, err
	}
	defer unlockAll()
	o := repo.RotateOptions{Threshold: req.Threshold, Persist: v.KeepRoot(), Now: v.Now()}
	for _, rec := range req.Custodians {
		o.Custodians = append(o.Custodians, repo.Custodian{Recipient: rec})
	}
	rep, err := r.Rotate(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	v.RetireRoots(rep.NewEpoch)
	for _, w := range rep.Warnings {
		v.Warnf("%s", w)
	}
	v.Recorder().Audit(ctx, tlog.KeyRotate(rep.NewEpoch, rep.Datasets, rep.Retired))
	return rep, r.CurrentEpoch(), nil
}
