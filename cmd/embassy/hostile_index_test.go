package main

import (
	"os"
	"path/filepath"
	"testing"
)

// indexFiles lists the index objects at a local site folder.
func indexFiles(t *testing.T, siteDir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(siteDir, "index"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Attack 3, without keys: a host drops the index objects a signed
// snapshot is bound to (FORMAT §10.1), so that restore cannot find its
// blobs or takes them from elsewhere. At one site: the restore reads the
// index at the other and names the dropping site. At every site: the
// restore is refused (exit 3) with every site named and nothing written;
// nothing else was lost: with the index back, the same snapshot restores.
func TestHostileDroppedIndex(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "38501012231,Mari,Tamm\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	siteA, siteB := filepath.Join(f.dir, "site-a"), filepath.Join(f.dir, "site-b")
	idx := indexFiles(t, siteA)
	if len(idx) == 0 || len(indexFiles(t, siteB)) != len(idx) {
		t.Fatalf("fixture: indexes at a %d, at b %d", len(idx), len(indexFiles(t, siteB)))
	}
	saved := map[string][]byte{}
	for _, p := range idx {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(siteA, p)
		saved[rel] = b
		os.Remove(p)
	}

	target := filepath.Join(f.dir, "restore-1")
	r := f.try("restore", "registry", "--target", target)
	wantRun(t, "restore with the index dropped at a", r.maskedIDs(f.dir, "DIR"), 0, lines{
		rx(`restored snapshot [0-9a-f]{8} of registry to DIR/restore-1: 2 files, 1 dirs, 0 symlinks, [0-9.]+ [KM]?i?B`),
	}, lines{ // a diagnostic for a only: b still holds the index
		siteAlert("a", "dropped-index", "index/<id>/<id>", `an index snapshot [0-9a-f]{8} is bound to is missing here; it is read from another site`),
	})
	if !f.alerted(r.stderr, "a", "dropped-index") {
		t.Fatal("the dropped index at a is not in alerts.jsonl")
	}
	sameFile(t, filepath.Join(target, "register.csv"), "38501012231,Mari,Tamm\n")

	for rel := range saved {
		os.Remove(filepath.Join(siteB, rel))
	}
	target = filepath.Join(f.dir, "restore-2")
	r = f.try("restore", "registry", "--target", target)
	dropped := `an index snapshot [0-9a-f]{8} is bound to is missing at every site; the snapshot is refused`
	wantRun(t, "restore with the index dropped everywhere", r.maskedIDs(f.dir, "DIR"), 3, nil, lines{
		siteAlert("a", "dropped-index", "index/<id>/<id>", dropped),
		siteAlert("b", "dropped-index", "index/<id>/<id>", dropped),
		rx(`embassy: error: snapshot [0-9a-f]{8} of dataset registry: the index it is bound to is missing at every site \([0-9a-f]{8}\): the sites do not present the index set the snapshot is bound to`),
		"embassy: hint: a site dropped or replaced them; run 'embassy verify' to see which, restore from a site or backup that still holds them, or restore an older snapshot",
	})
	if !f.alerted(r.stderr, "a", "dropped-index") || !f.alerted(r.stderr, "b", "dropped-index") {
		t.Fatalf("sites not named:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(target, "register.csv")); !os.IsNotExist(err) {
		t.Fatal("a refused restore wrote the register")
	}

	// Nothing else was lost: the index put back (from a backup), the
	// snapshot restores again.
	for rel, b := range saved {
		p := filepath.Join(siteB, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	target = filepath.Join(f.dir, "restore-3")
	f.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "38501012231,Mari,Tamm\n")
}
