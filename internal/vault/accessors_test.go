package vault

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/repo"
)

// TestVaultAccessors: the clock is the injected one in UTC, warnings reach
// the caller's sink, and LockedDataset
// runs under the dataset's lock (and refuses an unknown dataset).
func TestVaultAccessors(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	var warned []string
	o.Warn = func(m string) { warned = append(warned, m) }
	v := open(t, dir, o)
	ctx := context.Background()
	if !v.Now().Equal(testNow) || v.Now().Location().String() != "UTC" || v.Logger() == nil {
		t.Fatalf("clock %v, logger %v", v.Now(), v.Logger())
	}
	v.Warnf("site %s is %s", "lu", "slow")
	if len(warned) != 1 || warned[0] != "site lu is slow" {
		t.Fatalf("warnings: %q", warned)
	}
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "C1-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	ran := false
	if err := v.LockedDataset(ctx, OpLs, "registry", func(d *repo.Dataset) error { ran = d != nil; return nil }); err != nil || !ran {
		t.Fatalf("LockedDataset: %v (ran %v)", err, ran)
	}
	if err := v.LockedDataset(ctx, OpLs, "nosuch", func(*repo.Dataset) error { return nil }); err == nil {
		t.Fatal("an unknown dataset was locked")
	}
}
