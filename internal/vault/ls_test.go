package vault

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
)

// TestList: List walks the snapshot the dashboard and 'embassy ls' show,
// one level or all, under a directory; a directory the snapshot lacks is
// a clear error with a hint.
func TestList(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"register.csv": "38501012231,Mari,Tamm\n", "docs/a.txt": "a", "docs/sub/b.txt": "bb"})
	v := open(t, dir, o)
	ctx := context.Background()
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "restricted", By: "test"}); err != nil {
		t.Fatal(err)
	}
	paths := func(l *Listing) []string {
		var out []string
		for _, e := range l.Entries {
			out = append(out, e.Path)
		}
		return out
	}
	all, err := v.List(ctx, "registry", "", true)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot's paths end in the source's own names, whatever the
	// archiver puts above them.
	var top string
	for _, p := range paths(all) {
		if strings.HasSuffix(p, "/register.csv") || p == "register.csv" {
			top = strings.TrimSuffix(strings.TrimSuffix(p, "register.csv"), "/")
		}
	}
	join := func(p string) string { return strings.TrimPrefix(top+"/"+p, "/") }
	got := paths(all)
	i := slices.Index(got, join("docs"))
	if i < 0 || !slices.Equal(got[i:i+4], []string{join("docs"), join("docs/a.txt"), join("docs/sub"), join("docs/sub/b.txt")}) {
		t.Fatalf("recursive listing %q: want docs, docs/a.txt, docs/sub, docs/sub/b.txt in that order", got)
	}
	if e := all.Entries[slices.Index(got, join("docs/sub/b.txt"))]; e.Size != 2 || e.Type != "file" {
		t.Fatalf("docs/sub/b.txt listed as %+v, want a file of 2 bytes", e)
	}
	one, err := v.List(ctx, "registry@latest", join("docs"), false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{join("docs/a.txt"), join("docs/sub")}; !slices.Equal(paths(one), want) {
		t.Fatalf("one level under docs = %q, want %q", paths(one), want)
	}
	_, err = v.List(ctx, "registry", join("docs/a.txt"), false)
	if err == nil || !strings.Contains(err.Error(), "no directory") || hint.Of(err) == "" {
		t.Fatalf("listing under a file: %v (hint %q), want a 'no directory' error with a hint", err, hint.Of(err))
	}
}
