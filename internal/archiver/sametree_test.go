package archiver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/archiver"
)

// TestParentTreesReused: a folder whose entries all equal the parent
// snapshot's keeps the parent's tree, and any change, of content or of
// metadata alone (mode, times, an extended attribute, a new or removed
// name), gives exactly the tree a snapshot without a parent writes. The
// extended attributes of an entry whose ctime is unchanged are the
// parent's, not read again: each xattr change below must still show.
func TestParentTreesReused(t *testing.T) {
	v := newVault(t, 1)
	d := openDS(t, v.open(), "trees")
	src := t.TempDir()
	writeTree(t, src, 12)
	for _, o := range []archiver.Options{{Paths: []string{src}}, {Paths: []string{filepath.Join(src, "sub"), filepath.Join(src, "big.bin")}}} {
		_, parent := commit(t, d, o)
		res, same := commit(t, d, archiver.Options{Paths: o.Paths, Parent: parent})
		if same.Tree != parent.Tree || res.Stats.NewBlobs != 0 {
			t.Fatalf("%v unchanged: tree %s, parent's %s, %d new blobs", o.Paths, same.Tree, parent.Tree, res.Stats.NewBlobs)
		}
	}
	deep := filepath.Join(src, "sub", "deep")
	later := time.Date(2020, 5, 6, 7, 8, 9, 10, time.UTC)
	changes := []struct {
		what string
		do   func() error
	}{
		{"mode of a deep file", func() error { return os.Chmod(filepath.Join(deep, "fc"), 0o600) }},
		{"mtime of a deep file", func() error { return os.Chtimes(filepath.Join(deep, "fc"), later, later) }},
		{"mtime of a folder", func() error { return os.Chtimes(deep, later, later) }},
		{"xattr of a folder", func() error { return unix.Lsetxattr(deep, "user.note", []byte("x"), 0) }},
		{"xattr value", func() error { return unix.Lsetxattr(deep, "user.note", []byte("y"), 0) }},
		{"xattr of a file", func() error { return unix.Lsetxattr(filepath.Join(deep, "fc"), "user.note", []byte("f"), 0) }},
		{"xattr of a file removed", func() error { return unix.Lremovexattr(filepath.Join(deep, "fc"), "user.note") }},
		{"new empty file", func() error { return os.WriteFile(filepath.Join(deep, "new"), nil, 0o644) }},
		{"removed file", func() error { return os.Remove(filepath.Join(deep, "new")) }},
		{"content", func() error { return os.WriteFile(filepath.Join(deep, "fc"), []byte("other"), 0o600) }},
	}
	parent := snapshot(t, v.open(), "trees", src)
	for _, c := range changes {
		if err := c.do(); err != nil {
			if strings.HasPrefix(c.what, "xattr") {
				t.Logf("skipped: %s: %v", c.what, err)
				continue
			}
			t.Fatalf("%s: %v", c.what, err)
		}
		_, withParent := commit(t, d, archiver.Options{Paths: []string{src}, Parent: parent})
		_, fresh := commit(t, d, archiver.Options{Paths: []string{src}})
		if withParent.Tree != fresh.Tree {
			t.Fatalf("%s: tree %s with a parent, %s without", c.what, withParent.Tree, fresh.Tree)
		}
		if withParent.Tree == parent.Tree {
			t.Fatalf("%s: the parent's tree was kept", c.what)
		}
		parent = withParent
	}
	target := t.TempDir()
	restoreInto(t, d, parent, target, false)
	compareDirs(t, src, target)
}
