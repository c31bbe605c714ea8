package archiver_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/archiver"
)

// TestPrefetchedFoldersAgree: with a parent snapshot, folder listings and
// the parent's trees are read ahead of the walker (more folders than the
// prefetch queue holds, so some are read by the walker itself), and the
// snapshot is exactly the one taken without a parent, through changes
// spread over the tree: edited, added and removed files, a folder
// removed, one added, and one that vanished and came back as a file.
func TestPrefetchedFoldersAgree(t *testing.T) {
	v := newVault(t, 1)
	d := openDS(t, v.open(), "wide")
	src := t.TempDir()
	for i := range 150 {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", i/10), fmt.Sprintf("e%03d", i))
		if err := os.MkdirAll(filepath.Join(dir, "inner"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"a", "inner/b"} {
			if err := os.WriteFile(filepath.Join(dir, f), fmt.Appendf(nil, "%s %d", f, i), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, parent := commit(t, d, archiver.Options{Paths: []string{src}})
	res, same := commit(t, d, archiver.Options{Paths: []string{src}, Parent: parent})
	if same.Tree != parent.Tree || res.Stats.NewBlobs != 0 || res.Stats.Unchanged != 300 {
		t.Fatalf("unchanged: tree %s (parent's %s), %d new blobs, %d unchanged files", same.Tree, parent.Tree, res.Stats.NewBlobs, res.Stats.Unchanged)
	}
	steps := []func() error{
		func() error { return os.WriteFile(filepath.Join(src, "d000/e003/a"), []byte("edited"), 0o644) },
		func() error { return os.WriteFile(filepath.Join(src, "d014/e149/inner/new"), []byte("new"), 0o644) },
		func() error { return os.Remove(filepath.Join(src, "d007/e071/inner/b")) },
		func() error { return os.RemoveAll(filepath.Join(src, "d009/e095")) },
		func() error { return os.MkdirAll(filepath.Join(src, "d011/fresh/x"), 0o755) },
		func() error {
			if err := os.RemoveAll(filepath.Join(src, "d012/e120")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(src, "d012/e120"), []byte("a file now"), 0o644)
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		_, withParent := commit(t, d, archiver.Options{Paths: []string{src}, Parent: parent})
		_, fresh := commit(t, d, archiver.Options{Paths: []string{src}})
		if withParent.Tree != fresh.Tree || withParent.Tree == parent.Tree {
			t.Fatalf("step %d: tree %s with a parent (parent's %s), %s without", i, withParent.Tree, parent.Tree, fresh.Tree)
		}
		parent = withParent
	}
	target := t.TempDir()
	restoreInto(t, d, parent, target, false)
	compareDirs(t, src, target)
}
