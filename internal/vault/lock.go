package vault

import (
	"context"
	"maps"
	"slices"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Op names an operation for the lock matrix and for lock messages.
type Op string

// Operations of the lock matrix.
const (
	OpSnapshot Op = "snapshot"
	OpRestore  Op = "restore"
	OpLs       Op = "ls"
	OpVerify   Op = "verify"
	OpSync     Op = "sync"
	OpRepair   Op = "repair"
	OpForget   Op = "forget"
	OpPrune    Op = "prune"
	OpRotate   Op = "rotate"
	OpShred    Op = "shred"
	OpExit     Op = "exit"
)

// Exclusive is the lock matrix: an operation either shares a dataset's
// lock with every other sharing operation, or holds it alone. Readers
// (restore, ls, verify, sync, repair) and writers of new objects
// (snapshot) share; operations that delete or re-key (forget, prune,
// rotate, shred, exit) are exclusive. So a restore or verify never runs
// while prune deletes packs of the same dataset, and two snapshots may.
// docs/ARCHITECTURE.md shows the matrix; lock_test.go runs every pair.
var Exclusive = map[Op]bool{
	OpSnapshot: false, OpRestore: false, OpLs: false, OpVerify: false, OpSync: false, OpRepair: false,
	OpForget: true, OpPrune: true, OpRotate: true, OpShred: true, OpExit: true,
}

// Ops lists the operations of the matrix.
var Ops = slices.Sorted(maps.Keys(Exclusive))

// LockDataset takes dataset dk's lock for op, waiting up to the vault's
// RetryLock while another process holds it.
func (v *Vault) LockDataset(ctx context.Context, op Op, dk *repo.DatasetKeys) (unlock func(), err error) {
	if writes[op] {
		if err := v.homeRoom(op); err != nil {
			return nil, err
		}
	}
	return v.Home.Acquire(home.LockRequest{Name: "dataset-" + dk.ID, What: "dataset " + dk.Name, Op: string(op),
		Exclusive: Exclusive[op], Wait: v.retry, Since: v.Now()})
}

// LockAll takes the lock of every dataset of r for op, in id order (so
// two processes taking several locks never deadlock).
func (v *Vault) LockAll(ctx context.Context, op Op, r *repo.Repo) (unlock func(), err error) {
	dss, err := r.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	var unlocks []func()
	unlock = func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	for _, id := range slices.Sorted(maps.Keys(dss)) {
		u, err := v.LockDataset(ctx, op, dss[id])
		if err != nil {
			unlock()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return unlock, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
