package main

import (
	"os"
	"path/filepath"
	"strings"
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
	if r.code != 3 || !strings.Contains(r.stderr, "error:") || !strings.Contains(r.stderr, "C3-I3-A1") ||
		!strings.Contains(r.stderr, "require-outside-witness") || !strings.Contains(r.stderr, "hint:") || !strings.Contains(r.stderr, "embassy witness add") {
		t.Fatalf("snapshot of a class requiring an outside witness under a home-alone policy: exit %d\n%s", r.code, r.stderr)
	}
	if ls := f.try("--json", "snapshots", "land-register"); ls.code == 0 && strings.Contains(ls.stdout, `"id"`) {
		t.Fatalf("a refused snapshot was committed:\n%s", ls.stdout)
	}
	for _, site := range []string{"site-a", "site-b"} {
		if ents, _ := os.ReadDir(filepath.Join(f.dir, site, "snapshots")); len(ents) != 0 {
			t.Fatalf("a refused snapshot left manifests at %s", site)
		}
	}

	r = f.try("snapshot", "cadastre", src, "--class", "C2-I3-A2")
	if r.code != 0 || !strings.Contains(r.stderr, "needs a log witness outside the home") {
		t.Fatalf("snapshot of an I3 class without the rule: exit %d\n%s", r.code, r.stderr)
	}
	if len(f.snapshots("cadastre")) != 1 {
		t.Fatal("the warned snapshot was not committed")
	}
	r = f.try("snapshot", "open-data", src, "--class", "C1-I1-A1")
	if r.code != 0 || strings.Contains(r.stderr, "witness outside the home") {
		t.Fatalf("snapshot of an I1 class: exit %d\n%s", r.code, r.stderr)
	}
}
