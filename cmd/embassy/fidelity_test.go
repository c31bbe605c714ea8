package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/digital-embassy/embassy/internal/treegen"
)

// TestFidelityThroughBinary runs the awkward tree through the real binary:
// snapshot, restore byte-exact (owners too when root, the default), a
// second snapshot after type changes restored over the first with
// --overwrite, and --no-owner.
func TestFidelityThroughBinary(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	os.Mkdir(src, 0o755)
	made, err := treegen.Build(src, treegen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for c, why := range made.Missing {
		t.Run("uncovered/"+c, func(t *testing.T) { t.Skipf("this machine cannot make %s: %s", c, why) })
	}
	root := os.Geteuid() == 0
	_, errOut, code := f.result("snapshot", "ds", src, "--class", "internal")
	if code != 0 {
		t.Fatalf("snapshot exit %d:\n%s", code, errOut)
	}
	target := filepath.Join(f.dir, "restore")
	out, errOut, code := f.result("restore", "ds", "--target", target)
	// no notes: the restore is to the same file system
	wantRun(t, "restore", runResult{code, out, errOut}.masked(f.dir, "DIR"), 0, lines{
		rx(`restored snapshot [0-9a-f]{8} of ds to DIR/restore: \d+ files, \d+ dirs, \d+ symlinks, [0-9.]+ [KMG]?i?B`),
	}, nil)
	for _, d := range treegen.Compare(src, target, treegen.CompareOptions{Owners: root}) {
		t.Errorf("restore: %s", d)
	}

	if err := treegen.ChangeTypes(src); err != nil {
		t.Fatal(err)
	}
	f.run("snapshot", "ds", src, "--class", "internal")
	wantRun(t, "restore over changed types without --overwrite", f.try("restore", "ds", "--target", target).masked(f.dir, "DIR"), 1, nil, lines{
		rx(`embassy: error: restore: DIR/restore/\S+ already exists`),
		"embassy: hint: restore into an empty directory, or pass --overwrite",
	})
	f.run("restore", "ds", "--target", target, "--overwrite")
	for _, d := range treegen.Compare(src, target, treegen.CompareOptions{Owners: root}) {
		t.Errorf("restore --overwrite: %s", d)
	}

	if !root {
		t.Log("--no-owner: not checked without root (owners are only restored as root)")
		return
	}
	plain := filepath.Join(f.dir, "no-owner")
	f.run("restore", "ds", "--target", plain, "--no-owner", "--path", "hard")
	var st syscall.Stat_t
	if err := os.Lchown(filepath.Join(src, "hard", "a"), 4242, 4343); err != nil {
		t.Fatal(err)
	}
	f.run("snapshot", "ds", src, "--class", "internal")
	f.run("restore", "ds", "--target", plain, "--no-owner", "--path", "hard/a", "--overwrite")
	if err := syscall.Lstat(filepath.Join(plain, "hard", "a"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != uint32(os.Geteuid()) {
		t.Errorf("--no-owner restored uid %d", st.Uid)
	}
	f.run("restore", "ds", "--target", plain, "--path", "hard/a", "--overwrite")
	if err := syscall.Lstat(filepath.Join(plain, "hard", "a"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 4242 || st.Gid != 4343 {
		t.Errorf("restore as root gave owner %d:%d, want 4242:4343", st.Uid, st.Gid)
	}
}

// TestSiteAddedTwice is issue 11 item 9 through the binary: the same
// folder cannot be added under a second name (even spelled differently),
// and exit refuses to delete a site whose storage turned out to be another
// registered site's (here: its folder replaced by a link to the other).
func TestSiteAddedTwice(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	os.Mkdir(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("data\n"), 0o644)
	f.run("snapshot", "ds", src, "--class", "internal")
	siteA := filepath.Join(f.dir, "site-a")
	countA := func() int {
		n := 0
		filepath.WalkDir(siteA, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return nil
		})
		return n
	}
	for _, url := range []string{siteA, siteA + "/./", "file://" + siteA} {
		wantRun(t, "site add dup --url "+url, f.try("site", "add", "dup", "--url", url, "--jurisdiction", "LU").masked(f.dir, "DIR"), 2, nil, lines{
			"embassy: error: site dup is the same storage as registered site a: it would count as an extra copy",
			"embassy: hint: a folder or bucket prefix can be registered once; use another location, or 'embassy site remove' the duplicate name (which deletes nothing)",
		})
	}
	wantLines(t, "site list", masked(f.run("site", "list"), f.dir, "DIR"), twoSitesList)

	before := countA() // markers are written by the first check
	siteC := filepath.Join(f.dir, "site-c")
	f.run("site", "add", "c", "--url", siteC, "--jurisdiction", "FI")
	os.RemoveAll(siteC)
	if err := os.Symlink(siteA, siteC); err != nil {
		t.Fatal(err)
	}
	wantRun(t, "exit of a site that is site a's storage", f.try("exit", "c", "--archive", filepath.Join(f.dir, "c.tar")).masked(f.dir, "DIR"), 2, nil, lines{
		"embassy: error: site c is the same storage as registered site a: deleting its objects would delete that site's",
		"embassy: hint: a folder or bucket prefix can be registered once; use another location, or 'embassy site remove' the duplicate name (which deletes nothing)",
	})
	if n := countA(); n < before {
		t.Fatalf("exit deleted objects of site a: %d files left of %d", n, before)
	}
	target := filepath.Join(f.dir, "restore")
	f.run("restore", "ds", "--target", target)
	if b, err := os.ReadFile(filepath.Join(target, "f")); err != nil || string(b) != "data\n" {
		t.Errorf("restore after refused exit: %q, %v", b, err)
	}
}
