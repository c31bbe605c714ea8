package repo

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/seal"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// Attack 3 by someone who holds a dataset key (the worst case: a leaked or
// retired version): a second pack and index list other bytes under the ID
// of a blob a signed snapshot needs. Restore recomputes the keyed ID, so it
// returns the real bytes or refuses, never the substitute; the duplicate
// is resolved the same way whatever order the indexes load in.
func TestSubstitutedBlobIsNeverReturned(t *testing.T) {
	ctx := context.Background()
	lu := mem.New(site.Properties{Name: "lu"})
	sites := []*Site{{Name: "lu", Backend: lu}}
	_, rec, _ := keys.GenerateIdentity(true)
	root, home, err := Init(ctx, InitOptions{Custodians: []Custodian{{Recipient: rec}}, Threshold: 1, Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []Alert
	open := func() *Dataset {
		r, err := Open(ctx, Options{Home: home, Root: root, Sites: []*Site{{Name: "lu", Backend: lu}}, OnAlert: func(a Alert) { alerts = append(alerts, a) }})
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
		return d
	}
	real := bytes.Repeat([]byte("38501012231,Mari,Tamm\n"), 100)
	d := open()
	w := d.NewWriter(ctx)
	id, _, err := w.SaveBlob(BlobData, real, &Scratch{})
	if err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	// The key holder writes other bytes under the same ID, several times so
	// that some substitute lands in a pack whose id sorts first.
	for i := 0; i < 8; i++ {
		d = open()
		w = d.NewWriter(ctx)
		if _, _, err := w.store(BlobData, id, append([]byte("forged register "), byte(i)), &Scratch{}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	d = open()
	if d.Idx.Duplicates() != 8 {
		t.Fatalf("duplicates %d, want 8", d.Idx.Duplicates())
	}
	first, _ := d.Idx.Lookup(id)
	for i := 0; i < 5; i++ {
		d = open()
		if loc, _ := d.Idx.Lookup(id); loc != first {
			t.Fatal("duplicate resolution depends on load order")
		}
		b, err := d.LoadBlob(ctx, id, nil)
		switch {
		case err == nil && !bytes.Equal(b, real):
			t.Fatalf("restore returned the substitute %q", b)
		case err != nil && !errors.Is(err, seal.ErrAuth):
			t.Fatalf("refusal does not say why: %v", err)
		}
		if err != nil && len(alerts) == 0 {
			t.Fatal("substitution refused without an alert")
		}
		// The restorer's path: merged reads of neighbouring blobs check
		// every blob's keyed id as LoadBlob does.
		var got [][]byte
		_, err = d.LoadBlobs(ctx, []ID{id, id}, nil, func(p []byte) error { got = append(got, bytes.Clone(p)); return nil })
		switch {
		case err == nil && (len(got) != 2 || !bytes.Equal(got[0], real) || !bytes.Equal(got[1], real)):
			t.Fatalf("merged read returned the substitute: %q", got)
		case err != nil && !errors.Is(err, seal.ErrAuth):
			t.Fatalf("merged read refusal does not say why: %v", err)
		}
	}
}

// An index without the home's signature cannot retire the real ones.
func TestUnsignedIndexCannotSupersede(t *testing.T) {
	ctx := context.Background()
	lu := mem.New(site.Properties{Name: "lu"})
	_, rec, _ := keys.GenerateIdentity(true)
	root, home, err := Init(ctx, InitOptions{Custodians: []Custodian{{Recipient: rec}}, Threshold: 1, Sites: []*Site{{Name: "lu", Backend: lu}}})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []Alert
	r, err := Open(ctx, Options{Home: home, Root: root, Sites: []*Site{{Name: "lu", Backend: lu}}, OnAlert: func(a Alert) { alerts = append(alerts, a) }})
	if err != nil {
		t.Fatal(err)
	}
	dk, _, _ := r.EnsureDataset(ctx, "registry")
	d, _ := r.OpenDataset(ctx, dk)
	w := d.NewWriter(ctx)
	id, _, _ := w.SaveBlob(BlobData, []byte("real"), &Scratch{})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var real []ID
	for x := range d.Idx.Files() {
		real = append(real, x)
	}
	// The key holder seals an unsigned index that supersedes the real one.
	k := dk.CurrentKey()
	f := &IndexFile{Supersedes: real}
	obj := sealObject(k.Enc, k.Version, objIndex, dk.ID, f.Encode())
	lu.Put(ctx, indexHandle(dk.ID, Hash(obj)), site.Bytes(obj), site.PutOptions{})
	if err := d.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if !d.Idx.Has(id) {
		t.Fatal("an unsigned index retired the real one")
	}
	found := false
	for _, a := range alerts {
		found = found || a.Attack == AttackUnsignedIndex
	}
	if !found {
		t.Fatalf("alerts %+v", alerts)
	}
	// The same claim signed by another key, and junk a host plants, are
	// ignored with an alert: the dataset stays usable, prune refuses.
	other := fixRoot(t, 2)
	bad := sealObject(k.Enc, k.Version, objIndex, dk.ID, f.EncodeSigned(dk.ID, 1, other.Signer()))
	lu.Put(ctx, indexHandle(dk.ID, Hash(bad)), site.Bytes(bad), site.PutOptions{})
	junk := []byte("planted junk")
	lu.Put(ctx, indexHandle(dk.ID, Hash(junk)), site.Bytes(junk), site.PutOptions{})
	alerts = nil
	if err := d.LoadIndex(ctx); err != nil {
		t.Fatalf("planted indexes broke the dataset: %v", err)
	}
	if !d.Idx.Has(id) || len(d.BadIndexes()) != 2 {
		t.Fatalf("has %v, bad %v", d.Idx.Has(id), d.BadIndexes())
	}
	if !errors.Is(d.BadIndexes()[Hash(bad)], ErrSignature) {
		t.Fatalf("signed by another key: %v", d.BadIndexes()[Hash(bad)])
	}
	named := 0
	for _, a := range alerts {
		if a.Attack == AttackForgedIndex && a.Site == "lu" {
			named++
		}
	}
	if named != 2 {
		t.Fatalf("alerts %+v", alerts)
	}
	if _, err := d.Prune(ctx, PruneOptions{}); err == nil {
		t.Fatal("prune ran with unauthenticated indexes present")
	}
}
