package repo

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// legacyize turns a vault into what versions before signed state wrote:
// unsigned key records, no state records, no signed indexes.
func legacyize(t *testing.T, r *Repo, backends []site.Backend) {
	ctx := context.Background()
	for _, b := range backends {
		var hs []site.Handle
		b.List(ctx, site.KindConfig, func(fi site.Info) error {
			if _, ok := parseStateName(fi.Handle.Name); ok {
				hs = append(hs, fi.Handle)
			}
			return nil
		})
		for _, h := range hs {
			b.Delete(ctx, h)
		}
		for _, d := range r.datasets {
			for v, k := range d.Keys {
				plain, _ := json.Marshal(k.rec)
				w, err := keys.Wrap(r.epochs[r.current].kem, dataKeyInfo(r.home, d.ID, v, r.current), plain)
				if err != nil {
					t.Fatal(err)
				}
				h := dataKeyHandle(d.ID, v, r.current)
				b.Delete(ctx, h)
				if err := b.Put(ctx, h, site.Bytes(w), site.PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestUpgradeSignsLegacyVault(t *testing.T) {
	ctx := context.Background()
	lu, ch, meta := mem.New(site.Properties{Name: "lu"}), mem.New(site.Properties{Name: "ch"}), mem.New(site.Properties{Name: "home"})
	sites := func() []*Site {
		return []*Site{{Name: "lu", Backend: lu}, {Name: "ch", Backend: ch}, {Name: "home", Backend: meta, MetaOnly: true}}
	}
	_, rec, _ := keys.GenerateIdentity(true)
	root, home, err := Init(ctx, InitOptions{Custodians: []Custodian{{Recipient: rec}}, Threshold: 1, Sites: sites()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, Options{Home: home, Root: root, Sites: sites()})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, err := r.EnsureDataset(ctx, "registry")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	w := d.NewWriter(ctx)
	tree, _, err := w.SaveBlob(BlobTree, []byte(`{"nodes":[]}`), &Scratch{})
	if err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	sid := saveV1(t, d, &Snapshot{Tree: tree})
	legacyize(t, r, []site.Backend{lu, ch, meta})
	// A record the host minted at lu before the upgrade is not carried over.
	minted := dataKeyHandle(strings.Repeat("ab", 16), 1, 1)
	lu.Put(ctx, minted, site.Bytes([]byte("x")), site.PutOptions{})

	r, err = Open(ctx, Options{Home: home, Root: root, Sites: sites()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Datasets(ctx); !errors.Is(err, ErrNeedsUpgrade) || hint.CodeOf(err) != hint.CodeKey {
		t.Fatalf("legacy vault without upgrade: %v", err)
	}
	var unwraps []Unwrap // the upgrade's key uses are logged like any other (vault: key.unwrap)
	r, err = Open(ctx, Options{Home: home, Root: root, Sites: sites(), Legacy: true,
		OnUnwrap: func(_ context.Context, us []Unwrap) { unwraps = append(unwraps, us...) }})
	if err != nil {
		t.Fatal(err)
	}
	var newRoot *keys.Root
	rep, err := r.Upgrade(ctx, func(k *keys.Root) error { newRoot = k; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(unwraps, func(u Unwrap) bool { return u.Dataset == dk.ID && u.Version == 1 && u.Epoch == 1 && u.Used }) {
		t.Fatalf("upgrade reported unwraps %+v, want dataset %s v1 of epoch 1", unwraps, dk.ID)
	}
	if rep.NewEpoch != 2 || len(rep.Datasets) != 1 || rep.Snapshots != 1 || len(rep.Ignored) != 1 || rep.Ignored[0].Object != minted.String() {
		t.Fatalf("upgrade report %+v", rep)
	}
	r, err = Open(ctx, Options{Home: home, Root: newRoot, Sites: sites()})
	if err != nil {
		t.Fatal(err)
	}
	dk, err = r.Dataset(ctx, "registry")
	if err != nil {
		t.Fatal(err)
	}
	d = &Dataset{r: r, Keys: dk, Idx: newIndex()}
	snaps, bad, err := d.Snapshots(ctx)
	// The v1 manifest is re-signed (epoch 2) as v2, bound to the index
	// set; the v1 copy is a tombstone.
	if err != nil || len(bad) != 0 || len(snaps) != 1 || snaps[0].ID == sid || snaps[0].Epoch != 2 || !snaps[0].Bound() || snaps[0].Tree != tree || rep.Rebound != 1 {
		t.Fatalf("after upgrade: %v %v %v (rebound %d)", snaps, bad, err, rep.Rebound)
	}
	if sd := r.State().Dataset(dk.ID); !sd.WasForgotten(sid) || *sd.Head.Latest != snaps[0].ID {
		t.Fatalf("v1 manifest not tombstoned, or head not moved: %+v", sd)
	}
	// Every key record of the new epoch is signed.
	for v := range dk.Keys {
		b, err := site.ReadAll(ctx, ch, dataKeyHandle(dk.ID, v, 2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openDataKey(r.kem, home, dk.ID, v, 2, r.epochs[2].sign, false, b); err != nil {
			t.Fatalf("version %d after upgrade: %v", v, err)
		}
	}
	// Running it again does nothing.
	again, err := r.Upgrade(ctx, nil)
	if err != nil || !again.Already {
		t.Fatalf("second upgrade: %+v %v", again, err)
	}
}
