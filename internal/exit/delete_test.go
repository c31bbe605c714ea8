package exit

import (
	"context"
	"slices"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// recordDeletes is a backend that notes the order of deletions.
type recordDeletes struct {
	*mem.Backend
	order []string
}

func (r *recordDeletes) Delete(ctx context.Context, h site.Handle) error {
	r.order = append(r.order, h.String())
	return r.Backend.Delete(ctx, h)
}

// TestDeleteObjectsOrder: data goes first and config/repo (what makes a
// folder a site) last, so an interrupted exit leaves a site that still
// says it is one; an object the manifest does not list (planted after the
// export) is not deleted here and so stays visible to the certificate.
func TestDeleteObjectsOrder(t *testing.T) {
	ctx := t.Context()
	b := &recordDeletes{Backend: mem.New(site.Properties{})}
	for _, h := range []site.Handle{{Kind: site.KindConfig, Name: "repo"}, {Kind: site.KindConfig, Name: "epoch-00000001"},
		{Kind: site.KindKey, Name: "datasets/d1/v000001.e00000001"}, {Kind: site.KindSnapshot, Name: "d1/s1"},
		{Kind: site.KindIndex, Name: "d1/i1"}, {Kind: site.KindPack, Name: "d1/p1"}} {
		if err := b.Put(ctx, h, site.Bytes("x"), site.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	hs, err := Handles(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{}
	for _, h := range hs {
		m.Objects = append(m.Objects, Object{Path: h.String()})
	}
	m.Objects = append(m.Objects, Object{Path: "data/d1/p0"}) // already gone: counts as deleted
	planted := site.Handle{Kind: site.KindPack, Name: "d1/planted"}
	if err := b.Put(ctx, planted, site.Bytes("y"), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	n, err := DeleteObjects(ctx, b, m)
	if err != nil || n != 7 {
		t.Fatalf("deleted %d, %v; want 7", n, err)
	}
	want := []string{"data/d1/p1", "data/d1/p0", "index/d1/i1", "snapshots/d1/s1", "keys/datasets/d1/v000001.e00000001", "config/epoch-00000001", "config/repo"}
	if !slices.Equal(b.order, want) {
		t.Errorf("deletion order\n got %v\nwant %v", b.order, want)
	}
	left, err := Handles(ctx, b)
	if err != nil || !slices.Equal(left, []site.Handle{planted}) {
		t.Errorf("left %v, %v; want only the planted object", left, err)
	}
	if _, err := DeleteObjects(ctx, b, &Manifest{Objects: []Object{{Path: "nokind/x"}}}); err == nil {
		t.Error("a manifest path of no known kind was accepted")
	}
}
