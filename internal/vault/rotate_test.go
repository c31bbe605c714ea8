package vault

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// keyEntries returns the log's entries of kind.
func keyEntries(t *testing.T, v *Vault, kind string) []tlog.Entry {
	t.Helper()
	rd, err := v.Recorder().Reader()
	if err != nil {
		t.Fatal(err)
	}
	_, ents, err := rd.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []tlog.Entry
	for _, e := range ents {
		if e.Kind == kind {
			out = append(out, e.Entry)
		}
	}
	return out
}

// TestRotateShred drives key rotation and crypto-shredding through the
// service layer: a rotation waits for no reader (a restore holding a
// dataset's lock refuses it), retires the old root key in the home and
// records its typed entry; a shred leaves the other dataset readable,
// the shredded one not, and records its entry without the dataset's name.
func TestRotateShred(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	ctx := context.Background()
	v := open(t, dir, o)
	ids := map[string]string{}
	for _, ds := range []string{"census", "land"} {
		src := filepath.Join(dir, "src-"+ds)
		writeTree(t, src, map[string]string{"a.txt": ds + " rows\n"})
		res, err := v.Snapshot(ctx, SnapshotRequest{Dataset: ds, Paths: []string{src}, Class: "restricted", By: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ids[ds] = res.DatasetID
	}
	old := v.Repo.CurrentEpoch().Epoch

	// A reader holds census's lock: rotation must not re-wrap under it.
	unlock, err := v.Home.Acquire(home.LockRequest{Name: "dataset-" + ids["census"], What: "dataset census", Op: string(OpRestore)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Rotate(ctx, RotateRequest{}); err == nil || !strings.Contains(err.Error(), string(OpRestore)) {
		t.Fatalf("rotate while a restore holds the lock: %v", err)
	}
	unlock()

	rep, ep, err := v.Rotate(ctx, RotateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OldEpoch != old || rep.NewEpoch != old+1 || ep.Epoch != rep.NewEpoch || rep.Datasets != 2 {
		t.Fatalf("rotate: %+v, epoch %d", rep, ep.Epoch)
	}
	if got := v.Home.Roots(); len(got) != 1 || got[0] != rep.NewEpoch {
		t.Errorf("home roots after rotation: %v, want [%d]", got, rep.NewEpoch)
	}
	want := tlog.KeyRotate(rep.NewEpoch, 2, rep.Retired)
	got := keyEntries(t, v, tlog.KindKeyRotate)
	if len(got) != 1 || got[0].Object != want.Object || !cmp.Equal(got[0].Details, want.Details) || !got[0].Time.Equal(testNow) {
		t.Errorf("rotate entries %+v, want one like %+v", got, want)
	}

	sr, err := v.Shred(ctx, "census")
	if err != nil {
		t.Fatal(err)
	}
	if sr.DatasetID != ids["census"] || sr.Objects == 0 || sr.NewEpoch != rep.NewEpoch+1 {
		t.Fatalf("shred: %+v", sr)
	}
	for _, name := range []string{"lu", "ch"} {
		b, err := o.OpenSite(ctx, home.SiteConfig{Name: name}, false)
		if err != nil {
			t.Fatal(err)
		}
		err = b.List(ctx, site.KindKey, func(fi site.Info) error {
			if strings.Contains(fi.Handle.Name, ids["census"]) {
				t.Errorf("site %s still holds %s after the shred", name, fi.Handle)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	shreds := keyEntries(t, v, tlog.KindKeyShred)
	if len(shreds) != 1 || shreds[0].Dataset != ids["census"] || shreds[0].Details["for"] != "" || strings.Contains(shreds[0].Details["new_epoch"], "census") {
		t.Errorf("shred entries %+v", shreds)
	}
	// A fresh vault over the same sites: land restores, census is gone.
	v.Close()
	v2 := open(t, dir, o)
	if _, err := v2.Restore(ctx, RestoreRequest{Ref: "land", Target: filepath.Join(dir, "out-land"), By: "test"}); err != nil {
		t.Errorf("restore of the kept dataset: %v", err)
	}
	if _, err := v2.Restore(ctx, RestoreRequest{Ref: "census", Target: filepath.Join(dir, "out-census"), By: "test"}); err == nil {
		t.Error("the shredded dataset restored")
	}
}

// TestEpochsDatedByClock: init and rotation date their signed records
// by the vault's clock (EMBASSY_NOW, a test's), not the wall clock: the
// descriptor and epoch 1 at init's time, epoch 2 at the rotation's.
func TestEpochsDatedByClock(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	later := testNow.Add(90 * time.Minute)
	o.Clock = func() time.Time { return later }
	v := open(t, dir, o)
	_, ep, err := v.Rotate(context.Background(), RotateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{"descriptor": v.Repo.Descriptor().Created, "epoch 2": ep.Created}
	for n, e := range v.Repo.Epochs() {
		got[fmt.Sprintf("epoch %d", n)] = e.Created
	}
	want := map[string]time.Time{"descriptor": testNow, "epoch 1": testNow, "epoch 2": later}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record times (-want +got):\n%s", diff)
	}
}

// A snapshot is dated by the vault's clock from top to bottom: the
// manifest, the new dataset key record, the signed home state and the
// snapshot's root folder (issue 10: one injected clock, no wall-clock
// stamps in domain code).
func TestSnapshotDatedByClock(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"register.csv": "38501012231,Mari,Tamm\n"})
	later := testNow.Add(3 * time.Hour)
	o.Clock = func() time.Time { return later }
	ctx := context.Background()
	v := open(t, dir, o)
	res, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "restricted", By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := v.Repo.Datasets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{"snapshot": res.Snapshot.Time, "dataset key": ds["registry"].Created, "home state": v.Repo.State().Time}
	want := map[string]time.Time{"snapshot": later, "dataset key": later, "home state": later}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record times (-want +got):\n%s", diff)
	}
}
