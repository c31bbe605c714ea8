package archiver_test

import (
	"context"
	"testing"

	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// Restores with read-ahead windows and in pack order (used for remote
// sites) are byte-exact, also when the first site's packs are corrupt and
// the blobs must come from the other site.
func TestRestoreWithReadAhead(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, 2)
	r := v.open()
	src := t.TempDir()
	writeTree(t, src, 11)
	s := snapshot(t, r, "ds", src)
	for _, c := range []struct{ corrupt, packOrder bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		corrupt := c.corrupt
		if corrupt {
			v.sites[0].Backend.(*sitetest.Faulty).Corrupt(func(h site.Handle) bool { return h.Kind == site.KindPack })
		}
		r := v.open()
		dk, _ := r.Dataset(ctx, "ds")
		d, err := r.OpenDataset(ctx, dk)
		if err != nil {
			t.Fatal(err)
		}
		d.ReadAhead = 1 << 20
		target := t.TempDir()
		if _, err := restorer.Restore(ctx, d, s, target, restorer.Options{PackOrder: c.packOrder}); err != nil {
			t.Fatalf("corrupt=%v packOrder=%v: %v", corrupt, c.packOrder, err)
		}
		compareDirs(t, src, target)
	}
}
