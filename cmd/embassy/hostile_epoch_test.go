package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree copies a site folder as a host keeps it.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// addMissing copies into to every file of from that to lacks, under dir.
func addMissing(t *testing.T, from, to, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(from, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if _, err := os.Stat(dst); err == nil {
			return nil
		}
		b, _ := os.ReadFile(p)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if os.WriteFile(dst, b, 0o644) == nil {
			n++
		}
		return nil
	})
	return n
}

// Attack 4: the host kept a copy of its site from before a key rotation.
// Two custodians of the old epoch (colluding with it) rebuild the old home
// from that copy, sign a new "latest" snapshot with the retired epoch's key
// and the host slips the manifest, its packs and index into its live site.
// The rotated home never lists it (alert naming the site), restores its
// own latest data, and loses nothing.
func TestHostileOldEpochReplay(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "register before rotation\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	realFP := f.homeFingerprint()
	siteA := filepath.Join(f.dir, "site-a")
	kept := filepath.Join(f.dir, "site-a-kept")
	copyTree(t, siteA, kept)

	f.run("key", "rotate")
	writeSource(t, src, "register after rotation\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	before := f.snapshotIDs("registry")

	old := &fixture{t: t, dir: f.dir, home: filepath.Join(f.dir, "old-home")}
	old.run("recover", "--site", kept, "--expect-home", realFP,
		"--identity", filepath.Join(f.dir, "c0.key"), "--identity", filepath.Join(f.dir, "c1.key"))
	forged := writeSource(t, filepath.Join(f.dir, "forged"), "forged register\n")
	old.run("snapshot", "registry", forged, "--class", "C1-I1-A1")
	n := 0
	for _, dir := range []string{"data", "index", "snapshots"} {
		n += addMissing(t, kept, siteA, dir)
	}
	if n < 3 {
		t.Fatalf("fixture: only %d forged objects slipped into site a", n)
	}

	r := f.try("--json", "snapshots", "registry")
	if r.code != 0 || !f.alerted(r.stderr, "a", "unlisted-manifest") {
		t.Fatalf("snapshots after the replay: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := f.snapshotIDs("registry"); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("snapshots changed: %v, want %v", got, before)
	}
	target := filepath.Join(f.dir, "restore")
	f.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "register after rotation\n")
	for _, id := range before {
		tg := filepath.Join(f.dir, "restore-"+id[:8])
		f.run("restore", "registry@"+id[:12], "--target", tg)
		wantLines(t, "snapshot "+id[:12]+" restored", string(must(os.ReadFile(filepath.Join(tg, "register.csv")))), lines{rx(`register (before|after) rotation`)}) // never the forged one
	}
}

// Attack 6 (drop): both hosts drop the newest manifest. 'restore' of the
// latest snapshot is refused (exit 3) naming each site, rather than
// silently restoring the older one; the older one still restores by name.
func TestHostileDroppedLatestManifest(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "old register\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	first := f.snapshotIDs("registry")
	writeSource(t, src, "new register\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	var newest string
	for _, id := range f.snapshotIDs("registry") {
		if id != first[0] {
			newest = id
		}
	}
	for _, s := range []string{"site-a", "site-b"} {
		dsid := datasetIDs(t, filepath.Join(f.dir, s))[0]
		if err := os.Remove(filepath.Join(f.dir, s, "snapshots", dsid, newest)); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(f.dir, "restore")
	r := f.try("restore", "registry", "--target", target)
	gone := `no site returns a manifest the home's signed state lists`
	wantRun(t, "restore of the dropped latest", r.maskedIDs(f.dir, "DIR", newest, "NEWEST", newest[:8], "NEWEST8"), 3, nil, lines{
		siteAlert("a", "dropped-manifest", "snapshots/<id>/NEWEST", gone),
		siteAlert("b", "dropped-manifest", "snapshots/<id>/NEWEST", gone),
		"embassy: error: the latest snapshot NEWEST8 of dataset registry (signed head 2) cannot be read at any site: manifest NEWEST8 is listed in the home's signed state but missing at every site: object not found",
		"embassy: hint: a site is withholding or has lost it: run 'embassy verify' and 'embassy repair', or name an older snapshot explicitly",
	})
	if !f.alerted(r.stderr, "a", "dropped-manifest") || !f.alerted(r.stderr, "b", "dropped-manifest") {
		t.Fatalf("sites not named:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(target, "register.csv")); !os.IsNotExist(err) {
		t.Fatal("the older snapshot was restored in place of the latest")
	}
	older := filepath.Join(f.dir, "older")
	f.run("restore", "registry@"+first[0][:12], "--target", older)
	sameFile(t, filepath.Join(older, "register.csv"), "old register\n")
}
