package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/seal"
)

// Attack 1: the host mints dataset key records (a new version of an
// existing dataset, and a second record under an existing name) wrapped to
// the epoch's public KEM key, hoping the home seals its next snapshots with
// a key the host knows.
func TestHostileMintedKeyRecords(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "38501012231,Mari,Tamm\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	siteA := filepath.Join(f.dir, "site-a")
	kem, _ := epochRecord(t, siteA, "00000001")
	dsid := datasetIDs(t, siteA)[0]
	var ks struct {
		Home string `json:"home"`
	}
	json.Unmarshal([]byte(f.run("--json", "key", "status")), &ks)
	homeID := ks.Home

	hostKey := make([]byte, 32)
	rand.Read(hostKey)
	mint := func(id, name string, version uint32) {
		mintKeyRecord(t, siteA, kem, homeID, id, name, version, hostKey)
	}
	mint(dsid, "registry", 2)                        // a newer version of the real dataset
	mint(strings.Repeat("ab", 16), "registry", 1)    // a second "registry"
	mint(strings.Repeat("cd", 16), "census-2027", 1) // a dataset the home will create later

	writeSource(t, src, "38501012231,Mari,Tamm\n49001010000,Jaan,Kask\n")
	r := f.try("snapshot", "registry", src, "--class", "C1-I1-A1")
	if r.code != 0 {
		t.Fatalf("snapshot after minting: exit %d\n%s", r.code, r.stderr)
	}
	if !f.alerted(r.stderr, "a", "minted-key") || !f.alerted(r.stderr, "a", "unknown-dataset") {
		t.Fatalf("no alert naming site a:\n%s", r.stderr)
	}
	r = f.try("snapshot", "census-2027", src, "--class", "C1-I1-A1")
	if r.code != 0 {
		t.Fatalf("new dataset after minting: exit %d\n%s", r.code, r.stderr)
	}
	var st struct {
		Datasets []struct {
			Name    string `json:"name"`
			Current uint32 `json:"current_version"`
		} `json:"datasets"`
	}
	json.Unmarshal([]byte(f.run("--json", "key", "status")), &st)
	if len(st.Datasets) != 2 || st.Datasets[0].Current != 1 || st.Datasets[1].Current != 1 {
		t.Fatalf("key status datasets: %+v", st.Datasets)
	}
	// Nothing the home wrote is readable with the host's key: every
	// manifest and index is sealed with the home's version 1 and does not
	// open under the host's key.
	hk, _ := seal.NewKey(hostKey)
	for _, kind := range []string{"snapshots", "index"} {
		filepath.WalkDir(filepath.Join(siteA, kind), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			if len(b) < 9+28 || string(b[:4]) != "EMB1" {
				t.Fatalf("%s: not a sealed object", p)
			}
			if v := binary.BigEndian.Uint32(b[5:9]); v != 1 {
				t.Fatalf("%s sealed with key version %d", p, v)
			}
			ds := filepath.Base(filepath.Dir(p))
			if _, err := hk.Open(nil, b[9:], append(append([]byte("embassy.v1 object "), b[:9]...), ds...)); err == nil {
				t.Fatalf("%s opens with the host's key", p)
			}
			return nil
		})
	}
	// Nothing is lost: the latest snapshot restores exactly.
	target := filepath.Join(f.dir, "restore")
	f.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "38501012231,Mari,Tamm\n49001010000,Jaan,Kask\n")
}

// mintKeyRecord writes into a site folder what a host can build from public
// parts alone: a dataset key record of its choosing (with key material it
// knows) HPKE-wrapped to the epoch's public KEM key.
func mintKeyRecord(t *testing.T, siteDir string, kem []byte, homeID, id, name string, version uint32, hostKey []byte) {
	t.Helper()
	rec, _ := json.Marshal(map[string]any{"format": "embassy.datakey.v1", "home": homeID, "dataset": name, "dataset_id": id,
		"version": version, "created": time.Now().UTC(), "enc": hostKey, "id_key": hostKey, "gear_key": hostKey})
	w, err := keys.Wrap(kem, fmt.Appendf(nil, "embassy.v1 datakey %s %s %d %d", homeID, id, version, 1), rec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(siteDir, "keys", "datasets", id)
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("v%06d.e%08d", version, 1)), w, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Item 10: a 3 GiB object at a site must not exhaust the home's memory.
func TestHostileHugeObject(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "x,y\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	siteA := filepath.Join(f.dir, "site-a")
	dsid := datasetIDs(t, siteA)[0]
	p := filepath.Join(siteA, "keys", "datasets", dsid, "v000001.e00000001")
	if err := os.Truncate(p, 3<<30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	var maxRSS int64
	c := f.cmd("restore", "registry", "--target", filepath.Join(f.dir, "restore"))
	var errb strings.Builder
	c.Stderr = &errb
	err := c.Run()
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxRSS = ru.Maxrss * 1024
	}
	// Exit 3: the restore is complete, and a site holds damage.
	if c.ProcessState.ExitCode() != 3 {
		t.Fatalf("restore with a 3 GiB key object at site a: %v\n%s", err, errb.String())
	}
	if maxRSS == 0 || maxRSS > 400<<20 {
		t.Fatalf("peak memory %d MiB", maxRSS>>20)
	}
	wantLines(t, "restore with a 3 GiB key object at site a: stderr", maskIDs(errb.String(), f.dir, "DIR"), lines{
		"embassy: warning: site a holds a damaged or unreadable copy; another site's was used: read keys/datasets/<id>/v000001.e00000001: more than 1048576 bytes: object larger than its kind allows: malformed object (run 'embassy verify')",
	})
	sameFile(t, filepath.Join(f.dir, "restore", "register.csv"), "x,y\n")
}
