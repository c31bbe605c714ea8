package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/site"
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

// TestListAsksRead: ls reads a snapshot's trees back to the home without a
// restore, so it asks the gate for policy.Read per site. With
// restore-within-residency a class held only in LU is not read from CH:
// the listing comes from LU and names CH's denial as a structured
// decision; with only CH left the listing is refused by the rule.
func TestListAsksRead(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"register.csv": "38501012231,Mari,Tamm\n"})
	ctx := context.Background()
	v := open(t, dir, o)
	if _, err := v.Snapshot(ctx, SnapshotRequest{Dataset: "registry", Paths: []string{src}, Class: "C2-I1-A1", By: "test"}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := os.WriteFile(filepath.Join(dir, "home", "policy.yaml"),
		[]byte("classes:\n  - class: C2-I0-A0\n    jurisdictions: [LU]\n    restore-within-residency: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v = open(t, dir, o)
	if _, err := v.OpenRepo(ctx, true); err != nil {
		t.Fatal(err)
	}
	l, err := v.List(ctx, "registry", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) == 0 || len(l.Denied) != 1 {
		t.Fatalf("listing: %d entries, denied %+v; want the files and one denied site", len(l.Entries), l.Denied)
	}
	d := l.Denied[0]
	if d.Action != policy.Read || d.Site != "ch" || d.Allow || !slices.Contains(d.Rules, "residency-restore") || d.Dataset != "registry" {
		t.Fatalf("denial %+v: want read of registry at ch denied by residency-restore", d)
	}
	g, _ := v.Gate()
	asked := map[string]bool{}
	for _, d := range g.Decisions() {
		if d.Action == policy.Read {
			asked[d.Site] = d.Allow
		}
	}
	if len(asked) != 2 || !asked["lu"] || asked["ch"] {
		t.Fatalf("read decisions %v: want lu allowed, ch denied", asked)
	}

	// only the denied site holds the snapshot: refused by the rule
	o2 := o
	o2.OpenSite = func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error) {
		if sc.Name == "lu" {
			return nil, errors.New("lu is down")
		}
		return o.OpenSite(ctx, sc, create)
	}
	v2 := open(t, dir, o2)
	if _, err := v2.OpenRepo(ctx, true); err != nil {
		t.Fatal(err)
	}
	_, err = v2.List(ctx, "registry", "", true)
	if err == nil || !strings.Contains(err.Error(), "residency-restore") || hint.CodeOf(err) != hint.CodeError {
		t.Fatalf("ls with only the denied site: %v (code %d), want a policy refusal naming residency-restore", err, hint.CodeOf(err))
	}
}
