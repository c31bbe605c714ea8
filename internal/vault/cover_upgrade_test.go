package vault

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestCoverUpgradeCurrent: upgrading a vault already in the current
// format changes nothing and logs nothing, and reports the vault it
// found; while another holds the keys lock it is refused as locked.
func TestCoverUpgradeCurrent(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	v := open(t, dir, o)
	ctx := context.Background()
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "restricted", By: "test"}); err != nil {
		t.Fatal(err)
	}
	before := len(logged(t, v, tlog.KindKeyRotate, "")) + len(logged(t, v, tlog.KindRepair, ""))
	res, err := v.Upgrade(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Already || res.NewEpoch != res.OldEpoch || res.Rebound != 0 || res.Home != v.Repo.Home() || res.Fingerprint != v.Repo.Fingerprint() || res.StateSeq == 0 {
		t.Fatalf("upgrade of a current vault: %+v (report %+v)", res, *res.UpgradeReport)
	}
	if after := len(logged(t, v, tlog.KindKeyRotate, "")) + len(logged(t, v, tlog.KindRepair, "")); after != before {
		t.Errorf("a no-op upgrade logged %d key.rotate/repair entries", after-before)
	}

	unlock, err := v.Home.Lock(KeysLockName, true)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = v.Upgrade(ctx)
	wantCode(t, err, hint.CodeLocked, "keys is locked by another embassy process",
		"wait for it to finish and run again, or pass --retry-lock DURATION (e.g. --retry-lock 10m) to wait for it")
}
