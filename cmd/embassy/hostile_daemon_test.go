package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The host of a daemon site (embassyd) edits its own store: it mints a key
// record and puts back a manifest the home forgot. The home, talking to it
// over mutual TLS, detects both and names the daemon site.
func TestHostileDaemonSite(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	lu.start()
	defer lu.kill9()
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	src := writeSource(t, filepath.Join(f.dir, "src"), "old\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	old := f.snapshotIDs("registry")[0]
	writeSource(t, src, "new\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")

	dsid := datasetIDs(t, lu.store)[0]
	manifest := filepath.Join(lu.store, "snapshots", dsid, old)
	kept, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatalf("the daemon's store layout: %v", err)
	}
	f.run("forget", "registry", old[:12])
	os.MkdirAll(filepath.Dir(manifest), 0o755)
	if err := os.WriteFile(manifest, kept, 0o644); err != nil {
		t.Fatal(err)
	}
	var ks struct {
		Home string `json:"home"`
	}
	json.Unmarshal([]byte(f.run("--json", "key", "status")), &ks)
	kem, _ := epochRecord(t, lu.store, "00000001")
	hostKey := make([]byte, 32)
	rand.Read(hostKey)
	mintKeyRecord(t, lu.store, kem, ks.Home, dsid, "registry", 2, hostKey)

	r := f.try("--json", "snapshots", "registry")
	wantRun(t, "snapshots", r.maskedIDs(old, "OLD", f.dir, "DIR"), 0, snapshotJSON, lines{ // not the forgotten one
		siteAlert("lu", "minted-key", `keys/datasets/<id>/v000002\.e00000001`, `a dataset key record the home's signed state does not list and the home did not sign; it is ignored and never used`),
		siteAlert("lu", "resurrected-manifest", "snapshots/<id>/OLD", `a manifest the home forgot \(signed tombstone\); it is ignored`),
	})
	if !f.alerted(r.stderr, "lu", "resurrected-manifest") || !f.alerted(r.stderr, "lu", "minted-key") {
		t.Fatalf("no alerts naming the daemon site lu:\n%s", r.stderr)
	}
	target := filepath.Join(f.dir, "restore")
	f.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "new\n")
}
