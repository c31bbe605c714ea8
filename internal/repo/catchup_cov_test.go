package repo_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
)

// listAll returns every object of the data kinds a backend lists.
func listAll(t *testing.T, b site.Backend) map[site.Handle]int64 {
	t.Helper()
	out := map[site.Handle]int64{}
	for _, k := range []site.Kind{site.KindConfig, site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot} {
		if err := b.List(context.Background(), k, func(fi site.Info) error {
			out[fi.Handle] = fi.Size
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestCatchUpAlone: site ch lost a dataset's packs, indexes and manifest
// (it was unreachable while they were written). Lag counts exactly what it
// lacks; CatchUp copies exactly that from lu, never an object lu holds
// that the home's signed state says it did not write, and never a copy
// whose bytes do not match its name; ch then restores the snapshot alone.
func TestCatchUpAlone(t *testing.T) {
	ctx := context.Background()
	v := newHostileVault(t)
	r := v.open()
	src := t.TempDir()
	rng := rand.NewChaCha8([32]byte{7})
	for i, n := range []int{3 << 20, 200 << 10, 10} {
		b := make([]byte, n)
		rng.Read(b)
		os.WriteFile(filepath.Join(src, string(rune('a'+i))+".bin"), b, 0o644)
	}
	snap := v.snapshot(r, "reg", src)

	// ch loses every object of the dataset but its key records.
	lost := map[site.Handle]int64{}
	for h, size := range listAll(t, v.ch) {
		if h.Kind == site.KindPack || h.Kind == site.KindIndex || h.Kind == site.KindSnapshot {
			lost[h] = size
			if err := v.ch.Delete(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(lost) < 3 {
		t.Fatalf("only %d objects to lose", len(lost))
	}
	var lostBytes int64
	for _, s := range lost {
		lostBytes += s
	}
	// lu, hostile, offers a manifest of a dataset the home never made.
	planted := site.Handle{Kind: site.KindSnapshot, Name: "ffffffffffffffffffffffffffffffff/" + strings.Repeat("ab", 32)}
	v.lu.Plant(planted, []byte("a manifest nobody signed"))

	lag, err := r.Lag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lag["ch"].Objects != int64(len(lost)) || lag["ch"].Bytes != lostBytes || lag["lu"].Objects != 0 {
		t.Fatalf("lag: ch %+v, lu %+v; ch lost %d objects, %d bytes", lag["ch"], lag["lu"], len(lost), lostBytes)
	}
	st, lag, err := r.CatchUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != int64(len(lost)) || st.Bytes != lostBytes || st.Planted != 1 {
		t.Fatalf("catch-up copied %+v, want %d objects, %d bytes, 1 planted refused", st, len(lost), lostBytes)
	}
	if lag["ch"].Objects != 0 || lag["ch"].Bytes != 0 {
		t.Fatalf("ch still lags after catch-up: %+v", lag["ch"])
	}
	held := listAll(t, v.ch)
	for h, size := range lost {
		if held[h] != size {
			t.Errorf("ch lacks %v after catch-up", h)
		}
	}
	if _, ok := held[planted]; ok {
		t.Fatal("catch-up spread a planted manifest to ch")
	}
	if st, _, _ := r.CatchUp(ctx); st.Objects != 0 {
		t.Fatalf("a second catch-up copied %d objects", st.Objects)
	}

	// ch alone (with the home's mirror) restores the snapshot.
	chOnly, err := repo.Open(ctx, repo.Options{Home: v.home, Root: v.root, PackSize: 1 << 20, Sites: []*repo.Site{
		{Name: "ch", Jurisdiction: "CH", Backend: v.ch},
		{Name: "home", Backend: v.meta, MetaOnly: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	dk, err := chOnly.Dataset(ctx, "reg")
	if err != nil {
		t.Fatal(err)
	}
	d, err := chOnly.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.FindSnapshot(ctx, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if got.Tree != snap.Tree {
		t.Fatalf("ch's latest snapshot has tree %v, want %v", got.Tree, snap.Tree)
	}
	target := t.TempDir()
	if _, err := restorer.Restore(ctx, d, got, target, restorer.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.bin", "b.bin", "c.bin"} {
		want, _ := os.ReadFile(filepath.Join(src, n))
		have, err := os.ReadFile(filepath.Join(target, n))
		if err != nil || !bytes.Equal(have, want) {
			t.Fatalf("%s restored from ch alone differs (%v)", n, err)
		}
	}
}

// TestCatchUpSkipsDamagedCopy: when the only copy of a pack a site lacks
// does not hash to its name, catch-up copies nothing and the site keeps
// lagging by that pack (verify and repair report it).
func TestCatchUpSkipsDamagedCopy(t *testing.T) {
	ctx := context.Background()
	v := newHostileVault(t)
	r := v.open()
	v.snapshot(r, "reg", smallSource(t, strings.Repeat("38501012231,Mari,Tamm\n", 3000)))
	var pack site.Handle
	for h := range listAll(t, v.ch) {
		if h.Kind == site.KindPack {
			pack = h
		}
	}
	if pack.Name == "" {
		t.Fatal("no pack written")
	}
	if err := v.ch.Delete(ctx, pack); err != nil {
		t.Fatal(err)
	}
	orig, err := repo.ReadObject(ctx, v.lu, pack)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(orig)
	bad[len(bad)/2] ^= 1
	v.lu.Plant(pack, bad)
	st, lag, err := r.CatchUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 0 || lag["ch"].Objects != 1 || lag["ch"].Bytes != int64(len(orig)) {
		t.Fatalf("catch-up of a damaged copy: copied %+v, ch lag %+v", st, lag["ch"])
	}
	if _, ok := listAll(t, v.ch)[pack]; ok {
		t.Fatal("catch-up copied a damaged pack to ch")
	}
}
