package fs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
)

// TestDeferredWritesAndSync: a deferred Put is atomic and visible at once,
// read-only on disk, and made durable by one Sync (a second Sync has
// nothing to do); an object path blocked by a file is an error naming it.
func TestDeferredWritesAndSync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := fs.New(ctx, fs.Config{Path: dir, Name: "lu"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := site.Handle{Kind: site.KindPack, Name: "ab/abcdef"}
	if err := b.Put(ctx, h, site.Bytes("pack bytes"), site.PutOptions{IfAbsent: true, Deferred: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := site.ReadAll(ctx, b, h); err != nil || string(got) != "pack bytes" {
		t.Fatalf("deferred object: %q %v", got, err)
	}
	var file string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "abcdef" {
			file = p
		}
		return nil
	})
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("object file %s: %v %v", file, fi.Mode(), err)
	}
	if err := site.Sync(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// A regular file where the object's folder should be.
	blocker := filepath.Join(filepath.Dir(file), "..", "cd")
	os.WriteFile(blocker, []byte("in the way"), 0o600)
	err = b.Put(ctx, site.Handle{Kind: site.KindPack, Name: "cd/x"}, site.Bytes("x"), site.PutOptions{IfAbsent: true})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("put under a file: %v", err)
	}
}
