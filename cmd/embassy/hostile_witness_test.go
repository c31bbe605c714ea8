package main

import (
	"os"
	"path/filepath"
	"testing"
)

// I3 home-alone: a class rule that sets require-outside-witness refuses a
// snapshot (exit 3, error and hint naming the class and 'witness add')
// while the log policy's quorum is met by the home's own witnesses alone;
// an I3 class without it is written with the warning, as before; an I1
// class gets neither.
func TestHostileHomeAloneRefusedWhenClassRequiresOutsideWitness(t *testing.T) {
	f := newFixture(t)
	pol := "classes:\n  - class: C3-I3-A0\n    require-outside-witness: true\n"
	if err := os.WriteFile(filepath.Join(f.home, "policy.yaml"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	src := writeSource(t, filepath.Join(f.dir, "src"), "38501012231,Mari,Tamm\n")

	r := f.try("snapshot", "land-register", src, "--class", "C3-I3-A1")
	wantRun(t, "snapshot of a class requiring an outside witness under a home-alone policy", r, 3, nil, lines{
		"embassy: error: policy refuses snapshot of land-register: class C3-I3-A1 requires a log witness outside the home (require-outside-witness in policy.yaml), but the log policy's quorum can be met by the home's own witnesses alone: it names no witness outside the home",
		"embassy: hint: add a host site's witness with 'embassy witness add NAME VKEY URL', then snapshot again",
	})
	wantRun(t, "snapshots after the refused one", f.try("--json", "snapshots", "land-register"), 0, lines{"[]"}, nil)
	for _, site := range []string{"site-a", "site-b"} {
		if ents, _ := os.ReadDir(filepath.Join(f.dir, site, "snapshots")); len(ents) != 0 {
			t.Fatalf("a refused snapshot left manifests at %s", site)
		}
	}

	r = f.try("snapshot", "cadastre", src, "--class", "C2-I3-A2")
	wantRun(t, "snapshot of an I3 class without the rule", r, 0, snapshotSaved("cadastre"), lines{
		"embassy: warning: dataset cadastre is of integrity level I3, which needs a log witness outside the home: the log policy's quorum can be met by the home's own witnesses alone: it names no witness outside the home; add a host site's witness with 'embassy witness add NAME VKEY URL'",
	})
	if len(f.snapshots("cadastre")) != 1 {
		t.Fatal("the warned snapshot was not committed")
	}
	r = f.try("snapshot", "open-data", src, "--class", "C1-I1-A1")
	wantRun(t, "snapshot of an I1 class", r, 0, snapshotSaved("open-data"), nil)
}

// snapshotSaved is snapshot's output for the source of
// TestHostileHomeAloneRefusedWhenClassRequiresOutsideWitness, saved as ds.
func snapshotSaved(ds string) lines {
	return lines{
		rx(`snapshot [0-9a-f]{8} of ` + ds + ` saved`),
		"  2 files, 1 dirs, 43.0 KiB read (0 unchanged files reused)",
		rx(`  4 new blobs, 43\.8 KiB new data stored as \d+ B, in [0-9.]+m?s`),
		"  written to a, b",
	}
}
