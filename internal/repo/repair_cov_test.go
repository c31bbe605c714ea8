package repo_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// damage replaces the object h at b by a copy with one bit flipped.
func damage(t *testing.T, b site.Backend, h site.Handle) {
	t.Helper()
	ctx := context.Background()
	data, err := repo.ReadObject(ctx, b, h)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 4
	if err := b.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, h, site.Bytes(data), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ofKind(t *testing.T, b site.Backend, k site.Kind) []site.Handle {
	t.Helper()
	var out []site.Handle
	for h := range listAll(t, b) {
		if h.Kind == k {
			out = append(out, h)
		}
	}
	return out
}

// TestRepairFromIntactCopy: verify --read-data finds a damaged pack at ch
// and an index lu lost; a dry run names where each good copy comes from
// and changes nothing; repair restores both, and verify is clean again.
// An object damaged at every site is reported, never "repaired" from a
// bad copy.
func TestRepairFromIntactCopy(t *testing.T) {
	ctx := context.Background()
	v := newHostileVault(t)
	r := v.open()
	v.snapshot(r, "reg", smallSource(t, strings.Repeat("38501012231,Mari,Tamm,Tallinn\n", 20000)))
	packs := ofKind(t, v.ch, site.KindPack)
	idx := ofKind(t, v.lu, site.KindIndex)
	if len(packs) == 0 || len(idx) == 0 {
		t.Fatalf("%d packs, %d indexes", len(packs), len(idx))
	}
	damage(t, v.ch, packs[0])
	if err := v.lu.Delete(ctx, idx[0]); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Verify(ctx, repo.VerifyOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, d := range rep.Damage {
		found[d.Site+" "+d.Object] = d.Problem
	}
	packObj, idxObj := packs[0].String(), idx[0].String()
	if _, ok := found["ch "+packObj]; !ok {
		t.Fatalf("verify missed the damaged pack %s at ch: %+v", packObj, rep.Damage)
	}
	if _, ok := found["lu "+idxObj]; !ok {
		t.Fatalf("verify missed the lost index %s at lu: %+v", idxObj, rep.Damage)
	}

	dry, err := r.Repair(ctx, rep, true)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]repo.RepairAction{}
	for _, a := range dry {
		by[a.Site+" "+a.Object] = a
	}
	if a := by["ch "+packObj]; a.From != "lu" || a.Done || a.Error != "" {
		t.Fatalf("dry run for the pack: %+v", a)
	}
	if a := by["lu "+idxObj]; a.From != "ch" || a.Done {
		t.Fatalf("dry run for the index: %+v", a)
	}
	if _, err := v.lu.Stat(ctx, idx[0]); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("a dry run wrote the index back: %v", err)
	}

	acts, err := r.Repair(ctx, rep, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		if !a.Done || a.Error != "" {
			t.Errorf("repair %+v not done", a)
		}
	}
	good, _ := repo.ReadObject(ctx, v.lu, packs[0])
	if got, _ := repo.ReadObject(ctx, v.ch, packs[0]); !bytes.Equal(got, good) {
		t.Fatal("the pack at ch is still damaged")
	}
	rep, err = r.Verify(ctx, repo.VerifyOptions{ReadData: true})
	if err != nil || len(rep.Damage) != 0 {
		t.Fatalf("verify after repair: %v %+v", err, rep.Damage)
	}

	// Damaged everywhere: no intact copy, nothing written.
	damage(t, v.ch, packs[0])
	damage(t, v.lu.Unwrap(), packs[0])
	rep, _ = r.Verify(ctx, repo.VerifyOptions{ReadData: true})
	acts, _ = r.Repair(ctx, rep, false)
	var refused int
	for _, a := range acts {
		if a.Object == packObj {
			if a.Done || !strings.Contains(a.Error, "no intact copy elsewhere") {
				t.Errorf("repair from a bad copy: %+v", a)
			}
			refused++
		}
	}
	if refused != 2 {
		t.Fatalf("%d refusals for a pack damaged at both sites: %+v", refused, acts)
	}
}

// TestSyncAndFilters: SyncDataset copies one dataset's objects only;
// CatchUpFiltered with SkipDatasets keeps a dataset off a site while the
// home's own objects and the other datasets still go, and LagFiltered does
// not count what is kept off.
func TestSyncAndFilters(t *testing.T) {
	ctx := context.Background()
	v := newHostileVault(t)
	r := v.open()
	v.snapshot(r, "open-ds", smallSource(t, "public\n"))
	v.snapshot(r, "secret-ds", smallSource(t, "secret\n"))
	openK, err := r.Dataset(ctx, "open-ds")
	if err != nil {
		t.Fatal(err)
	}
	secretK, _ := r.Dataset(ctx, "secret-ds")
	lost := map[string]int{}
	for h := range listAll(t, v.ch) {
		if ds := repo.DatasetOf(h); ds != "" && h.Kind != site.KindKey {
			lost[ds]++
			v.ch.Delete(ctx, h)
		}
	}
	if lost[openK.ID] == 0 || lost[secretK.ID] == 0 {
		t.Fatalf("lost %v", lost)
	}
	st, err := r.SyncDataset(ctx, openK.ID)
	if err != nil || st.Objects != int64(lost[openK.ID]) {
		t.Fatalf("sync of open-ds copied %+v (%v), want %d", st, err, lost[openK.ID])
	}
	for h := range listAll(t, v.ch) {
		if repo.DatasetOf(h) == secretK.ID && h.Kind != site.KindKey {
			t.Fatalf("SyncDataset(open-ds) copied %v of secret-ds", h)
		}
	}

	keep := repo.SkipDatasets(map[string]map[string]bool{"ch": {secretK.ID: true}})
	lag, err := r.LagFiltered(ctx, keep)
	if err != nil || lag["ch"].Objects != 0 {
		t.Fatalf("filtered lag of ch: %+v %v", lag["ch"], err)
	}
	if lag, _ := r.Lag(ctx); lag["ch"].Objects != int64(lost[secretK.ID]) {
		t.Fatalf("unfiltered lag of ch: %+v, want %d", lag["ch"], lost[secretK.ID])
	}
	if st, _, err := r.CatchUpFiltered(ctx, keep); err != nil || st.Objects != 0 {
		t.Fatalf("filtered catch-up copied %+v %v", st, err)
	}
	for h := range listAll(t, v.ch) {
		if repo.DatasetOf(h) == secretK.ID && h.Kind != site.KindKey {
			t.Fatalf("a dataset kept off ch was copied there: %v", h)
		}
	}

	for _, c := range []struct {
		h    site.Handle
		want string
	}{
		{site.Handle{Kind: site.KindPack, Name: "abc/def"}, "abc"},
		{site.Handle{Kind: site.KindSnapshot, Name: "abc/def"}, "abc"},
		{site.Handle{Kind: site.KindKey, Name: "datasets/abc/v1"}, "abc"},
		{site.Handle{Kind: site.KindKey, Name: "shares/1/a"}, ""},
		{site.Handle{Kind: site.KindConfig, Name: "repo"}, ""},
		{site.Handle{Kind: site.KindPack, Name: "nodataset"}, ""},
	} {
		if got := repo.DatasetOf(c.h); got != c.want {
			t.Errorf("DatasetOf(%v) = %q, want %q", c.h, got, c.want)
		}
	}
	if !keep("lu", site.Handle{Kind: site.KindPack, Name: secretK.ID + "/x"}) || !keep("ch", site.Handle{Kind: site.KindConfig, Name: "repo"}) {
		t.Fatal("SkipDatasets kept too much off")
	}
}

// TestSiteExclude: Exclude keeps a healthy site out until undone; a site
// that failed on its own stays failed after the undo.
func TestSiteExclude(t *testing.T) {
	s := &repo.Site{Name: "lu", Backend: mem.New(site.Properties{Name: "lu"})}
	denied := errors.New("denied by policy")
	undo := s.Exclude(denied)
	if !errors.Is(s.Err(), denied) {
		t.Fatalf("excluded site: %v", s.Err())
	}
	undo()
	if s.Err() != nil {
		t.Fatalf("after undo: %v", s.Err())
	}
	broken := errors.New("disk gone")
	s.Fail(broken)
	undo = s.Exclude(denied)
	if !errors.Is(s.Err(), broken) {
		t.Fatalf("Exclude replaced the site's own failure: %v", s.Err())
	}
	undo()
	if !errors.Is(s.Err(), broken) {
		t.Fatalf("undo cleared the site's own failure: %v", s.Err())
	}
}

// TestDatasetLookupAndIndex: an unknown dataset's error says what exists
// (or how to make the first one); an opened dataset's index accounts for
// every blob in the packs the sites hold.
func TestDatasetLookupAndIndex(t *testing.T) {
	ctx := context.Background()
	v := newHostileVault(t)
	r := v.open()
	if _, err := r.Dataset(ctx, "reg"); err == nil || !strings.Contains(hint.Of(err), "no datasets yet") {
		t.Fatalf("empty vault: %v (hint %q)", err, hint.Of(err))
	}
	v.snapshot(r, "reg", smallSource(t, strings.Repeat("row\n", 50000)))
	v.snapshot(r, "land", smallSource(t, "parcel\n"))
	_, err := r.Dataset(ctx, "nope")
	if err == nil || hint.Of(err) != "known datasets: land, reg" {
		t.Fatalf("unknown dataset: %v (hint %q)", err, hint.Of(err))
	}
	dk, err := r.Dataset(ctx, "reg")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	packs := map[repo.ID]int64{}
	for _, h := range ofKind(t, v.ch, site.KindPack) {
		if repo.DatasetOf(h) == dk.ID {
			id, err := repo.ParseID(h.Name[strings.LastIndexByte(h.Name, '/')+1:])
			if err != nil {
				t.Fatal(err)
			}
			packs[id] = listAll(t, v.ch)[h]
		}
	}
	n := 0
	d.Idx.Each(func(id repo.ID, l repo.BlobLoc) {
		n++
		if size, ok := packs[l.Pack]; !ok || int64(l.Offset)+int64(l.Length) > size {
			t.Errorf("blob %v at %v+%d in pack %v of size %d", id, l.Offset, l.Length, l.Pack, size)
		}
		if !d.Idx.Has(id) {
			t.Errorf("Each listed %v, Has denies it", id)
		}
	})
	if n == 0 || n != d.Idx.Len() {
		t.Fatalf("Each saw %d blobs, Len says %d", n, d.Idx.Len())
	}
	for id, size := range packs {
		if d.Idx.PackSize(id) != size {
			t.Errorf("pack %v: index says %d bytes, site holds %d", id, d.Idx.PackSize(id), size)
		}
	}
	if d.Idx.PackSize(repo.ID{}) != 0 || !(repo.ID{}).IsZero() {
		t.Fatal("the zero ID is a known pack")
	}
	if len(r.Epochs()) != 1 || r.Root() == nil || r.CurrentEpoch() == nil {
		t.Fatalf("epochs %v, root %v", r.Epochs(), r.Root())
	}
}
