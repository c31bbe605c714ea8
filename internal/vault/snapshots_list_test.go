package vault

import (
	"context"
	"path/filepath"
	"testing"
)

// ListSnapshots lists every dataset's snapshots, by dataset name, or only
// the named datasets'.
func TestListSnapshots(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"a.txt": "a", "b/c.txt": "cc"})
	v := open(t, dir, o)
	ctx := context.Background()
	if rows, bad, err := ListSnapshots(ctx, v.Repo, nil); err != nil || rows == nil || len(rows) != 0 || len(bad) != 0 {
		t.Fatalf("empty vault: %v %v %v", rows, bad, err)
	}
	var ids []string
	for _, ds := range []string{"zeta", "alpha"} {
		res, err := v.Snapshot(ctx, SnapshotRequest{Dataset: ds, Paths: []string{src}, Class: "restricted", By: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID.String())
	}
	rows, bad, err := ListSnapshots(ctx, v.Repo, nil)
	if err != nil || len(bad) != 0 || len(rows) != 2 {
		t.Fatalf("rows %+v bad %v err %v", rows, bad, err)
	}
	if rows[0].Dataset != "alpha" || rows[0].ID != ids[1] || rows[1].Dataset != "zeta" || rows[1].ID != ids[0] || rows[0].Files != 2 || rows[0].Class != "C2-I3-A3" {
		t.Errorf("rows %+v, want alpha then zeta, 2 files each, class C2-I3-A3", rows)
	}
	if rows, _, err := ListSnapshots(ctx, v.Repo, []string{"zeta"}); err != nil || len(rows) != 1 || rows[0].Dataset != "zeta" {
		t.Errorf("zeta only: %+v %v", rows, err)
	}
	if _, _, err := ListSnapshots(ctx, v.Repo, []string{"nope"}); err == nil {
		t.Error("an unknown dataset lists")
	}
}
