package archiver_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/repo"
)

// TestStreamingStoreFolders: folders are listed and their trees stored as
// their last entry is, on several workers. A hard link whose first name is
// a large file in an earlier folder (still being read when the later
// folder is listed) gets its content, is stored once, and restores as one
// inode; deep and wide folders, an empty folder and unchanged files from
// a parent snapshot all come back byte-exact.
func TestStreamingStoreFolders(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			ctx := context.Background()
			v := newVault(t, 1)
			src := t.TempDir()
			big := make([]byte, 6<<20)
			crand.Read(big)
			mk := func(p string, b []byte) {
				t.Helper()
				if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(src, p), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mk("a/big.bin", big)
			for i := range 40 {
				mk(fmt.Sprintf("m/%02d/f", i), []byte(fmt.Sprintf("file %d\n", i)))
			}
			mk("m/deep/1/2/3/4/5/leaf", []byte("leaf\n"))
			if err := os.MkdirAll(filepath.Join(src, "m/empty"), 0o755); err != nil {
				t.Fatal(err)
			}
			mk("z/small", []byte("small\n"))
			if err := os.Link(filepath.Join(src, "a/big.bin"), filepath.Join(src, "z/link.bin")); err != nil {
				t.Fatal(err)
			}
			r := v.open()
			d := openDS(t, r, "ds")
			res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			if res.Incomplete || res.Stats.Files != 44 || res.Stats.Dirs != 50 {
				t.Fatalf("stats %+v (incomplete %v)", res.Stats, res.Incomplete)
			}
			// The big file's content is read once, for both names.
			if res.Stats.NewRaw >= int64(2*len(big)) {
				t.Errorf("stored %d new bytes: the hard link was read again", res.Stats.NewRaw)
			}
			s := &repo.Snapshot{Paths: []string{src}, Tree: res.Tree, Root: res.Root, Stats: res.Stats}
			if _, err := d.SaveSnapshot(ctx, s); err != nil {
				t.Fatal(err)
			}
			target := t.TempDir()
			restoreInto(t, d, s, target, false)
			compareDirs(t, src, target)
			var a, b syscall.Stat_t
			if err := syscall.Lstat(filepath.Join(target, "a/big.bin"), &a); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Lstat(filepath.Join(target, "z/link.bin"), &b); err != nil {
				t.Fatal(err)
			}
			if a.Ino != b.Ino {
				t.Errorf("the two names of one inode restored as inodes %d and %d", a.Ino, b.Ino)
			}
			got, _ := os.ReadFile(filepath.Join(target, "z/link.bin"))
			if !bytes.Equal(got, big) {
				t.Error("the hard link's content differs")
			}

			// Second snapshot with the first as parent, one file changed:
			// the same tree apart from it, the rest unchanged.
			mk("m/07/f", []byte("changed\n"))
			res2, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}, Workers: workers, Parent: s})
			if err != nil {
				t.Fatal(err)
			}
			if res2.Stats.Unchanged < 41 {
				t.Errorf("%d files reused from the parent, want at least 41", res2.Stats.Unchanged)
			}
			s2 := &repo.Snapshot{Paths: []string{src}, Tree: res2.Tree, Root: res2.Root, Stats: res2.Stats}
			if _, err := d.SaveSnapshot(ctx, s2); err != nil {
				t.Fatal(err)
			}
			target2 := t.TempDir()
			restoreInto(t, d, s2, target2, false)
			compareDirs(t, src, target2)
		})
	}
}
