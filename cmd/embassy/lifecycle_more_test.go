package main

import (
	"encoding/json"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

type keyStatus struct {
	Epoch       uint32 `json:"epoch"`
	Fingerprint string `json:"fingerprint"`
	Datasets    []struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Current uint32 `json:"current_version"`
	} `json:"datasets"`
}

func (f *fixture) keyStatus() keyStatus {
	f.t.Helper()
	var ks keyStatus
	out := f.run("--json", "key", "status")
	if err := json.Unmarshal([]byte(out), &ks); err != nil {
		f.t.Fatalf("key status --json: %v\n%s", err, out)
	}
	return ks
}

func (ks keyStatus) dataset(name string) (id string, version uint32, ok bool) {
	for _, d := range ks.Datasets {
		if d.Name == name {
			return d.ID, d.Current, true
		}
	}
	return "", 0, false
}

// siteFiles returns the size of every object file under the fixture's
// directory sites, by path.
func (f *fixture) siteFiles() map[string]int64 {
	out := map[string]int64{}
	for _, s := range []string{"site-a", "site-b"} {
		filepath.WalkDir(filepath.Join(f.dir, s), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					out[p] = fi.Size()
				}
			}
			return nil
		})
	}
	return out
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// TestLifecycleBehaviour checks what key rotate, forget, prune and key
// shred do, not only that they exit 0: the epoch and key versions move,
// the right snapshots remain and restore, prune frees bytes at the sites,
// and shred leaves no object of the dataset at any site.
func TestLifecycleBehaviour(t *testing.T) {
	t.Parallel() // waits on disks, daemons and links more than on CPU
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	rng := rand.New(rand.NewPCG(3, 9))
	l := newLedger("ds")
	for i := range 3 {
		mutateN(t, src, rng, i, 600<<10)
		l.snapshot(f, src)
	}
	gsrc := filepath.Join(f.dir, "gone-src")
	writeFile(t, filepath.Join(gsrc, "secret.txt"), "to be shredded\n")
	f.run("snapshot", "gone", gsrc, "--class", "internal")

	// key rotate: a new epoch with a new fingerprint, a new key version
	// for every dataset, and every snapshot still restores.
	before := f.keyStatus()
	_, v0, ok := before.dataset("ds")
	if !ok {
		t.Fatalf("key status does not list ds: %+v", before)
	}
	f.run("key", "rotate")
	after := f.keyStatus()
	if after.Epoch != before.Epoch+1 || after.Fingerprint == before.Fingerprint {
		t.Fatalf("key rotate: epoch %d (%s) -> %d (%s)", before.Epoch, before.Fingerprint, after.Epoch, after.Fingerprint)
	}
	if _, v1, _ := after.dataset("ds"); v1 != v0+1 {
		t.Errorf("key rotate: ds key version %d -> %d, want a new version", v0, v1)
	}
	l.check(f, "after key rotate", nil)

	// forget --keep-last 1: exactly the newest snapshot remains.
	var fg struct {
		Removed int `json:"removed"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "forget", "ds", "--keep-last", "1")), &fg); err != nil || fg.Removed != 2 {
		t.Fatalf("forget --keep-last 1: removed %d (%v), want 2", fg.Removed, err)
	}
	newest := l.order[len(l.order)-1]
	if got := f.snapshots("ds"); len(got) != 1 || !got[newest] {
		t.Fatalf("after forget --keep-last 1: %v, want only %s", got, newest[:8])
	}
	l.forgetAllBut(1)
	l.check(f, "after forget", nil)

	// prune: frees bytes at the sites, the kept snapshot restores, the
	// vault verifies.
	sizeBefore := total(f.siteFiles())
	var reps []struct {
		Dataset    string `json:"dataset"`
		BytesFreed int64  `json:"bytes_freed"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "prune", "ds")), &reps); err != nil || len(reps) != 1 || reps[0].BytesFreed <= 0 {
		t.Fatalf("prune ds --json: %+v %v, want bytes freed", reps, err)
	}
	if sizeAfter := total(f.siteFiles()); sizeAfter >= sizeBefore {
		t.Errorf("prune freed %d bytes by its report, but the sites hold %d bytes before and %d after", reps[0].BytesFreed, sizeBefore, sizeAfter)
	}
	l.check(f, "after prune", nil)
	f.run("verify", "--read-data")

	// key shred: the dataset is gone from the keys, and no object named
	// after it is left at any site; ds is untouched.
	gid, _, ok := f.keyStatus().dataset("gone")
	if !ok {
		t.Fatal("key status does not list gone")
	}
	f.run("key", "shred", "gone", "--yes")
	if _, _, ok := f.keyStatus().dataset("gone"); ok {
		t.Error("key status still lists the shredded dataset")
	}
	for p := range f.siteFiles() {
		// substring: a site's object paths, not output: none may name the shredded dataset
		if strings.Contains(p, gid) {
			t.Errorf("object %s of the shredded dataset is left at a site", p)
		}
	}
	if _, _, code := f.result("restore", "gone@latest", "--target", filepath.Join(f.dir, "r-gone")); code == 0 {
		t.Error("the shredded dataset still restores")
	}
	l.check(f, "after key shred", nil)
}
