package treegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCompareCatchesEachLoss: a faithful copy (cp -a) compares equal, and
// each loss a careless restore makes is reported at its path.
func TestCompareCatchesEachLoss(t *testing.T) {
	if _, err := exec.LookPath("cp"); err != nil {
		t.Fatal("cp (coreutils) is needed for a reference copy")
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	os.Mkdir(src, 0o755)
	made, err := Build(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for c, why := range made.Missing {
		t.Logf("not made here: %s (%s)", c, why)
	}
	dst := filepath.Join(base, "dst")
	if out, err := exec.Command("cp", "-a", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	if d := Compare(src, dst, CompareOptions{Owners: true}); len(d) != 0 {
		t.Fatalf("cp -a copy differs:\n%s", strings.Join(d, "\n"))
	}
	j := func(p string) string { return filepath.Join(dst, p) }
	// One loss each.
	os.Remove(j("hard/b"))
	os.WriteFile(j("hard/b"), []byte("one inode, three names\n"), 0o640)
	b, _ := os.ReadFile(j("sparse.img"))
	os.Remove(j("sparse.img"))
	os.WriteFile(j("sparse.img"), b, 0o644)
	unix.Lremovexattr(j("xattr.txt"), "user.binary")
	os.Remove(j("links/raw\xff"))
	os.Symlink("../names/caf\uFFFD", j("links/raw\xff"))
	ts := unix.NsecToTimespec(time.Date(2024, 2, 29, 12, 34, 56, 0, time.UTC).UnixNano())
	unix.UtimesNanoAt(unix.AT_FDCWD, j("names/caf\xe9"), []unix.Timespec{ts, ts}, 0)
	os.Rename(j("names/caf\xff"), j("names/caf-"))

	d := strings.Join(Compare(src, dst, CompareOptions{}), "\n")
	for _, want := range []string{`"hard/b": hard links`, `"sparse.img": holes filled`, `"xattr.txt": extended attributes differ`,
		`"links/raw\xff": link target`, `"names/caf\xe9": mtime`, `"names/caf\xff": missing`, `"names/caf-": only in the copy`} {
		if !strings.Contains(d, want) {
			t.Errorf("no %s in:\n%s", want, d)
		}
	}
}
