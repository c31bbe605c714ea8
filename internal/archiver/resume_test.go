package archiver_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// An interrupted snapshot (here: the sites refuse the index, after every
// pack was stored) is resumed by the next run without storing its blobs
// again: the orphan packs are adopted.
func TestInterruptedSnapshotResumesWithoutReupload(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, 2)
	src := t.TempDir()
	writeTree(t, src, 9)
	for _, s := range v.sites {
		s.Backend.(*sitetest.Faulty).Inject(sitetest.Fault{Ops: sitetest.OpPut, Match: func(h site.Handle) bool { return h.Kind == site.KindIndex }})
	}
	r := v.open()
	dk, _, err := r.EnsureDataset(ctx, "ds")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}})
	if err == nil {
		t.Fatalf("snapshot succeeded although no index could be written: %+v", res)
	}
	packs := 0
	v.sites[0].Backend.List(ctx, site.KindPack, func(site.Info) error { packs++; return nil })
	if packs == 0 {
		t.Fatal("no pack was stored before the failure")
	}
	for _, s := range v.sites {
		s.Backend.(*sitetest.Faulty).Clear()
	}
	r = v.open()
	dk, _ = r.Dataset(ctx, "ds")
	d, _ = r.OpenDataset(ctx, dk)
	res, err = archiver.Run(ctx, d, archiver.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	// Only the trees (written after the data) may be new.
	var dataBytes int64
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			dataBytes += fi.Size()
		}
		return nil
	})
	if res.Stats.NewRaw > dataBytes/20 {
		t.Errorf("re-run stored %d new bytes of %d: packs were uploaded again", res.Stats.NewRaw, dataBytes)
	}
}
