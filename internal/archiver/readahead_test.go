package archiver_test

import (
	"context"
	"testing"

	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// Restores with read-ahead windows (used for remote sites) are byte-exact,
// also when the first site's windows are corrupt and the blobs must come
// from the other site.
func TestRestoreWithReadAhead(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, 2)
	r := v.open()
	src := t.TempDir()
	writeTree(t, src, 11)
	s := snapshot(t, r, "ds", src)
	for _, corrupt := range []bool{false, true} {
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
		if _, err := restorer.Restore(ctx, d, s, target, restorer.Options{}); err != nil {
			t.Fatalf("corrupt=%v: %v", corrupt, err)
		}
		compareDirs(t, src, target)
	}
}
