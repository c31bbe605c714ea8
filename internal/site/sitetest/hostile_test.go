package sitetest_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

func TestHostileDecorator(t *testing.T) {
	ctx := context.Background()
	m := mem.New(site.Properties{Name: "lu"})
	real := site.Handle{Kind: site.KindIndex, Name: "ds/real"}
	m.Put(ctx, real, site.Bytes([]byte("honest")), site.PutOptions{})
	h := sitetest.NewHostile(m)

	planted := site.Handle{Kind: site.KindIndex, Name: "ds/planted"}
	h.Plant(planted, []byte("minted"))
	h.Plant(real, []byte("substitute"))
	names := map[string]int64{}
	h.List(ctx, site.KindIndex, func(fi site.Info) error { names[fi.Handle.Name] = fi.Size; return nil })
	if len(names) != 2 || names["ds/real"] != int64(len("substitute")) || names["ds/planted"] != 6 {
		t.Fatalf("listing %v", names)
	}
	if b, _ := site.ReadAll(ctx, h, real); string(b) != "substitute" || h.Served(real) != 1 {
		t.Fatalf("substitute read %q", b)
	}
	if b, _ := site.ReadRange(ctx, h, planted, 1, 3); string(b) != "int" {
		t.Fatalf("planted range %q", b)
	}

	h.Hide(func(x site.Handle) bool { return x == planted })
	if _, err := h.Stat(ctx, planted); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("hidden stat: %v", err)
	}

	huge := site.Handle{Kind: site.KindPack, Name: "ds/aa/huge"}
	h.Huge(huge, 3<<30)
	var n int64
	err := h.Get(ctx, huge, 0, 0, func(r io.Reader) error {
		var err error
		n, err = io.Copy(io.Discard, io.LimitReader(r, 1<<20))
		return err
	})
	if err != nil || n != 1<<20 {
		t.Fatalf("huge read %d %v", n, err)
	}
	if fi, _ := h.Stat(ctx, huge); fi.Size != 3<<30 {
		t.Fatalf("huge size %d", fi.Size)
	}

	other := mem.New(site.Properties{Name: "forged"})
	h.Reset()
	h.Forge(other)
	if _, err := h.Stat(ctx, real); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("forged site still serves the real object: %v", err)
	}
	// Writes go to the wrapped backend.
	w := site.Handle{Kind: site.KindIndex, Name: "ds/new"}
	if err := h.Put(ctx, w, site.Bytes([]byte("x")), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stat(ctx, w); err != nil {
		t.Fatalf("write did not reach the wrapped backend: %v", err)
	}
}
