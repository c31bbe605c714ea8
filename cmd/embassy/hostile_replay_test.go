package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

func (f *fixture) snapshotIDs(dataset string) []string {
	f.t.Helper()
	var rows []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "snapshots", dataset)), &rows); err != nil {
		f.t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}

// Attack 6: the host keeps a manifest the home forgot and puts it back.
func TestHostileResurrectedManifest(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "old register\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	old := f.snapshotIDs("registry")[0]
	writeSource(t, src, "new register\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	siteA := filepath.Join(f.dir, "site-a")
	dsid := datasetIDs(t, siteA)[0]
	p := filepath.Join(siteA, "snapshots", dsid, old)
	kept, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f.run("forget", "registry", old[:12])
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("forget left the manifest at site a")
	}
	if err := os.WriteFile(p, kept, 0o644); err != nil { // the host puts it back
		t.Fatal(err)
	}
	r := f.try("--json", "snapshots", "registry")
	wantRun(t, "snapshots after resurrection", r.maskedIDs(old, "OLD", f.dir, "DIR"), 0, snapshotJSON, lines{ // not the forgotten one
		siteAlert("a", "resurrected-manifest", "snapshots/<id>/OLD", `a manifest the home forgot \(signed tombstone\); it is ignored`),
	})
	if !f.alerted(r.stderr, "a", "resurrected-manifest") {
		t.Fatalf("no alert naming site a:\n%s", r.stderr)
	}
	if r := f.try("restore", "registry@"+old[:12], "--target", filepath.Join(f.dir, "x")); r.code == 0 {
		t.Fatal("a forgotten manifest restored")
	}
	target := filepath.Join(f.dir, "restore")
	f.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "new register\n")
	// Backfill to a new site does not spread the resurrected manifest.
	f.run("site", "add", "c", "--url", filepath.Join(f.dir, "site-c"), "--jurisdiction", "FI")
	if _, err := os.Stat(filepath.Join(f.dir, "site-c", "snapshots", dsid, old)); !os.IsNotExist(err) {
		t.Fatal("backfill copied the resurrected manifest")
	}
}

// Attacks 4 and 5: after a rotation, the host deletes the newest epoch
// record and the newest signed states at its site (the first one the home
// lists), hoping to make the home fall back to the old epoch or send the
// operator to 'embassy recover'. (A site that keeps hiding the state is
// repo.TestHostileStaleStateAndHiddenEpoch.)
func TestHostileHiddenEpochAndStaleState(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "one\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	f.run("key", "rotate")
	writeSource(t, src, "two\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	siteA := filepath.Join(f.dir, "site-a")
	if err := os.Remove(filepath.Join(siteA, "config", "epoch-00000002")); err != nil {
		t.Fatal(err)
	}
	states, _ := filepath.Glob(filepath.Join(siteA, "config", "state-*"))
	sort.Strings(states)
	for _, s := range states[len(states)-2:] {
		os.Remove(s)
	}
	r := f.try("snapshots", "registry")
	hidden := siteAlert("a", "hidden-epoch", "config/epoch-00000002", regexp.QuoteMeta("site shows key epochs up to 1 but the home knows 2; the site is stale or hiding the newest epoch (run 'embassy site sync')"))
	wantRun(t, "snapshots with epoch 2 hidden at a", r.masked(f.dir, "DIR"), 0, lines{ // no advice to recover
		"ID        DATASET   TIME                 CLASS     FILES  SIZE     PATHS",
		rx(`[0-9a-f]{8}  registry  YYYY-MM-DD hh:mm:ss  C1-I1-A1  2      7\.8 KiB  DIR/src`),
		rx(`[0-9a-f]{8}  registry  YYYY-MM-DD hh:mm:ss  C1-I1-A1  2      7\.8 KiB  DIR/src`),
	}, lines{hidden})
	if !f.alerted(r.stderr, "a", "hidden-epoch") {
		t.Fatalf("no hidden-epoch alert naming site a:\n%s", r.stderr)
	}
	// The home put its signed state back at a (it needs no key to copy);
	// the missing epoch record is damage until repaired.
	if _, err := os.Stat(states[len(states)-1]); err != nil {
		t.Fatalf("site a was not caught up with the home's state: %v", err)
	}
	r = f.try("verify")
	wantRun(t, "verify with a stale site", r.masked(f.dir, "DIR"), 3, lines{
		"verified structure of 1 dataset, 2 snapshots at a, b: 8 packs",
		"DAMAGED site=a object=config/epoch-00000002: missing",
	}, lines{
		hidden,
		"embassy: error: 1 problem found",
		"embassy: hint: restore still works while another site holds an intact copy; 'embassy repair' rebuilds damaged or missing objects from it (a site that cannot be reached must be fixed first)",
	})
	target := filepath.Join(f.dir, "restore")
	f.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "two\n")
	// Repair puts the site back in step.
	f.run("repair")
	if r := f.try("verify"); r.code != 0 {
		t.Fatalf("verify after repair: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
