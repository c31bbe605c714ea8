package repo_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// TestPruneAfterInterruptedPrune: a prune that stops after writing its
// superseding index, before deleting anything (a crash, or every delete
// failing), and a second prune after it, must not bring the old indexes
// back: they name packs the second prune deletes. The kept snapshot must
// restore and verify. (Found by cmd/embassy TestCrashPoints at
// repo.delete@1 of prune.)
func TestPruneAfterInterruptedPrune(t *testing.T) {
	ctx := context.Background()
	v := newVault(t)
	src := t.TempDir()
	write := func(name string, n int, b byte) {
		if err := os.WriteFile(filepath.Join(src, name), bytes.Repeat([]byte{b}, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.bin", 300_000, 1)
	write("b.bin", 300_000, 2)
	s1 := v.snapshot(src)
	os.Remove(filepath.Join(src, "a.bin"))
	write("c.bin", 300_000, 3)
	s2 := v.snapshot(src)

	r := v.open()
	d := v.dataset(r)
	if err := d.Forget(ctx, []repo.ID{s1.ID}); err != nil { // signed tombstone, then the manifest goes
		t.Fatal(err)
	}
	// First prune: every delete fails, as if killed right after the new index.
	for _, f := range v.sites {
		f.Inject(sitetest.Fault{Ops: sitetest.OpDelete})
	}
	if _, err := d.Prune(ctx, repo.PruneOptions{}); err == nil {
		t.Fatal("prune with every delete failing reported success")
	}
	for _, f := range v.sites {
		f.Clear()
	}
	if n := len(v.objects(0, site.KindIndex)); n < 3 {
		t.Fatalf("%d indexes after the interrupted prune: the test did not interrupt it after the new index", n)
	}
	// Second prune, then a fresh session reads the kept snapshot.
	r = v.open()
	d = v.dataset(r)
	if _, err := d.Prune(ctx, repo.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.restore(s2); err != nil {
		t.Fatalf("the kept snapshot no longer restores after prune, interrupted prune: %v", err)
	}
	if rep := v.verify(true); len(rep.Damage) > 0 {
		t.Fatalf("verify after the second prune: %+v", rep.Damage)
	}
	// A third prune finds nothing more to do and loses nothing.
	if _, err := v.dataset(v.open()).Prune(ctx, repo.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.restore(s2); err != nil {
		t.Fatalf("after a third prune: %v", err)
	}
}
