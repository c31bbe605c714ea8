package sitetest

import (
	"io"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/google/go-cmp/cmp"
)

func testRoundTrip(t *testing.T, b site.Backend) {
	ctx := t.Context()
	start := time.Now()
	for i, k := range site.Kinds {
		h := site.Handle{Kind: k, Name: "0123abcd"}
		want := data(uint64(i), 100+int64(i))
		Put(t, b, h, want, site.PutOptions{})
		wantContent(t, b, h, want)
		fi, err := b.Stat(ctx, h)
		if err != nil {
			t.Fatalf("Stat %v: %v", h, err)
		}
		if fi.Handle != h || fi.Size != int64(len(want)) {
			t.Errorf("Stat %v: got %v size %d, want size %d", h, fi.Handle, fi.Size, len(want))
		}
		// Allow for clock skew between us and a remote site.
		if fi.ModTime.IsZero() || fi.ModTime.Before(start.Add(-time.Hour)) || fi.ModTime.After(time.Now().Add(time.Hour)) {
			t.Errorf("Stat %v: ModTime %v, want near %v", h, fi.ModTime, start)
		}
		if diff := cmp.Diff(map[string]int64{h.Name: int64(len(want))}, Names(t, b, k)); diff != "" {
			t.Errorf("List %v (-want +got):\n%s", k, diff)
		}
		if err := b.Delete(ctx, h); err != nil {
			t.Fatalf("Delete %v: %v", h, err)
		}
		wantAbsent(t, b, h)
	}
}

func testNestedNames(t *testing.T, b site.Backend) {
	names := []string{"ab12/cd/ef.pack", "ab12/cd/eg.pack", "ab12/x", "ab13", "z_y-x.1/2"}
	want := map[string]int64{}
	for i, name := range names {
		d := data(uint64(i), int64(i+1))
		Put(t, b, site.Handle{Kind: site.KindPack, Name: name}, d, site.PutOptions{})
		want[name] = int64(len(d))
	}
	if diff := cmp.Diff(want, Names(t, b, site.KindPack)); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for i, name := range names {
		wantContent(t, b, site.Handle{Kind: site.KindPack, Name: name}, data(uint64(i), int64(i+1)))
	}
	// A directory-like prefix is not an object.
	for _, name := range []string{"ab12", "ab12/cd"} {
		h := site.Handle{Kind: site.KindPack, Name: name}
		_, err := b.Stat(t.Context(), h)
		wantIs(t, "Stat of prefix "+name, err, site.ErrNotFound)
		wantIs(t, "Delete of prefix "+name, b.Delete(t.Context(), h), site.ErrNotFound)
	}
	h := site.Handle{Kind: site.KindPack, Name: "ab12/cd/ef.pack"}
	if err := b.Delete(t.Context(), h); err != nil {
		t.Fatalf("Delete %v: %v", h, err)
	}
	wantAbsent(t, b, h)
	wantContent(t, b, site.Handle{Kind: site.KindPack, Name: "ab12/cd/eg.pack"}, data(1, 2))
}

func testKindsSeparate(t *testing.T, b site.Backend) {
	a := site.Handle{Kind: site.KindIndex, Name: "same"}
	c := site.Handle{Kind: site.KindSnapshot, Name: "same"}
	Put(t, b, a, []byte("index"), site.PutOptions{IfAbsent: true})
	Put(t, b, c, []byte("snapshot"), site.PutOptions{IfAbsent: true})
	wantContent(t, b, a, []byte("index"))
	wantContent(t, b, c, []byte("snapshot"))
	if err := b.Delete(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	wantContent(t, b, c, []byte("snapshot"))
	if got := Names(t, b, site.KindPack); len(got) != 0 {
		t.Errorf("List data: got %v, want nothing", got)
	}
}

func testOverwrite(t *testing.T, b site.Backend) {
	h := site.Handle{Kind: site.KindLock, Name: "lock1"}
	Put(t, b, h, []byte("first version"), site.PutOptions{})
	Put(t, b, h, []byte("second"), site.PutOptions{})
	wantContent(t, b, h, []byte("second"))
	if diff := cmp.Diff(map[string]int64{"lock1": 6}, Names(t, b, site.KindLock)); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func testInvalid(t *testing.T, b site.Backend) {
	ctx := t.Context()
	bad := []site.Handle{
		{Kind: site.KindPack, Name: ""},
		{Kind: site.KindPack, Name: "../escape"},
		{Kind: site.KindPack, Name: "a/../../b"},
		{Kind: site.KindPack, Name: ".hidden"},
		{Kind: site.KindPack, Name: "ab/.tmp-x"},
		{Kind: site.KindPack, Name: "/abs"},
		{Kind: site.KindPack, Name: "a//b"},
		{Kind: site.KindPack, Name: "a/"},
		{Kind: site.KindPack, Name: "Upper"},
		{Kind: site.KindPack, Name: "sp ace"},
		{Kind: site.KindPack, Name: `back\slash`},
		{Kind: 0, Name: "abc"},
		{Kind: site.KindLock + 1, Name: "abc"},
	}
	for _, h := range bad {
		check := func(op string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s %q (kind %d): no error", op, h.Name, h.Kind)
			} else if !site.IsPermanent(err) {
				t.Errorf("%s %q (kind %d): error %v is not permanent", op, h.Name, h.Kind, err)
			}
		}
		check("Put", b.Put(ctx, h, site.Bytes("x"), site.PutOptions{}))
		check("Get", b.Get(ctx, h, 0, 0, func(io.Reader) error { return nil }))
		_, err := b.Stat(ctx, h)
		check("Stat", err)
		check("Delete", b.Delete(ctx, h))
	}
	for _, k := range []site.Kind{0, site.KindLock + 1} {
		err := b.List(ctx, k, func(site.Info) error { return nil })
		if err == nil || !site.IsPermanent(err) {
			t.Errorf("List kind %d: got %v, want a permanent error", k, err)
		}
	}
}

func testNotFound(t *testing.T, b site.Backend) {
	ctx := t.Context()
	h := site.Handle{Kind: site.KindPack, Name: "missing"}
	Put(t, b, site.Handle{Kind: site.KindPack, Name: "other"}, []byte("x"), site.PutOptions{})
	called := false
	err := b.Get(ctx, h, 0, 0, func(r io.Reader) error { called = true; return nil })
	wantIs(t, "Get", err, site.ErrNotFound)
	err = b.Get(ctx, h, 1, 2, func(r io.Reader) error { called = true; return nil })
	wantIs(t, "Get range", err, site.ErrNotFound)
	if called {
		t.Error("Get of missing object called fn")
	}
	_, err = b.Stat(ctx, h)
	wantIs(t, "Stat", err, site.ErrNotFound)
	wantIs(t, "Delete", b.Delete(ctx, h), site.ErrNotFound)
	if !site.IsPermanent(err) {
		t.Errorf("ErrNotFound %v is not permanent", err)
	}
}

func testListStops(t *testing.T, b site.Backend) {
	for _, name := range []string{"a1", "b2/c", "c3"} {
		Put(t, b, site.Handle{Kind: site.KindIndex, Name: name}, []byte(name), site.PutOptions{})
	}
	calls := 0
	err := b.List(t.Context(), site.KindIndex, func(site.Info) error {
		calls++
		return errStop
	})
	wantIs(t, "List", err, errStop)
	if calls != 1 {
		t.Errorf("List called fn %d times after it failed, want 1", calls)
	}
	if got := len(Names(t, b, site.KindIndex)); got != 3 {
		t.Errorf("List: got %d objects, want 3", got)
	}
}

func testListEmpty(t *testing.T, b site.Backend) {
	for _, k := range site.Kinds {
		if got := Names(t, b, k); len(got) != 0 {
			t.Errorf("List %v of empty site: got %v", k, got)
		}
	}
}

func testProperties(t *testing.T, b site.Backend) {
	p := b.Properties()
	if p.Connections < 1 {
		t.Errorf("Properties().Connections = %d, want >= 1", p.Connections)
	}
	if p.Location == "" {
		t.Error("Properties().Location is empty")
	}
}
