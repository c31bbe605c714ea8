package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// TestSameStorage is issue 11 item 9: one folder opened under two names
// (and through two spellings of its path) is found to be one storage.
func TestSameStorage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(p string) site.Backend {
		b, err := fs.New(ctx, fs.Config{Path: p})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, a2, other := open(dir), open(dir+"/./"), mem.New(site.Properties{Name: "m"})
	others := []*Site{{Name: "lu-1", Backend: a}, {Name: "mem", Backend: other}}
	same, err := SameStorage(ctx, a2, others)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"lu-1"}, same); d != "" {
		t.Errorf("same storage (-want +got):\n%s", d)
	}
	fresh := open(t.TempDir())
	if same, err := SameStorage(ctx, fresh, others); err != nil || len(same) != 0 {
		t.Errorf("distinct folder: %v, %v", same, err)
	}
	id1, _ := ReadSiteID(ctx, a)
	id2, _ := ReadSiteID(ctx, other)
	if id1 == "" || id2 == "" || id1 == id2 {
		t.Errorf("markers %q and %q: want two distinct ids", id1, id2)
	}
}

func TestSiteMarkerRefusesJunk(t *testing.T) {
	for _, raw := range []string{``, `{}`, `{"format":"embassy.site-id.v1","id":"ABCDEF00000000000000000000000000"}`,
		`{"format":"embassy.site-id.v1","id":"00"}`, `{"format":"other","id":"00000000000000000000000000000000"}`} {
		if _, err := decodeSiteMarker([]byte(raw)); !errors.Is(err, errFormat) {
			t.Errorf("%s: got %v, want a malformed-object error", raw, err)
		}
	}
}

func FuzzDecodeSiteMarker(f *testing.F) {
	f.Add([]byte(`{"format":"embassy.site-id.v1","id":"0123456789abcdef0123456789abcdef"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := decodeSiteMarker(b)
		if err == nil && len(id) != 32 {
			t.Fatalf("accepted id %q", id)
		}
	})
}
