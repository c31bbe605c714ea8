package fs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
)

func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	b, err := New(t.Context(), Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, b *Backend, h site.Handle, data string, opts site.PutOptions) {
	t.Helper()
	if err := b.Put(t.Context(), h, site.Bytes(data), opts); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, b *Backend, h site.Handle, off, n int64) (string, error) {
	var out []byte
	err := b.Get(t.Context(), h, off, n, func(r io.Reader) error {
		var err error
		out, err = io.ReadAll(r)
		return err
	})
	return string(out), err
}

func pack(i int) site.Handle { return site.Handle{Kind: site.KindPack, Name: fmt.Sprintf("p%03d", i)} }

// Reading more packs than the cache holds keeps at most maxOpenPacks open,
// and every read still returns that pack's bytes.
func TestPackCacheBounded(t *testing.T) {
	b := newTestBackend(t)
	n := maxOpenPacks + 20
	for i := range n {
		put(t, b, pack(i), fmt.Sprintf("pack %03d body", i), site.PutOptions{IfAbsent: true})
	}
	for round := range 2 {
		for i := range n {
			got, err := get(t, b, pack(i), 5, 3)
			if err != nil || got != fmt.Sprintf("%03d", i) {
				t.Fatalf("round %d: pack %d [5+3] = %q, %v", round, i, got, err)
			}
		}
	}
	if open := b.packs.open(); open != maxOpenPacks {
		t.Fatalf("%d pack files open after reading %d, want the bound %d", open, n, maxOpenPacks)
	}
	if _, err := get(t, b, pack(0), 10, 100); !errors.Is(err, site.ErrRange) {
		t.Fatalf("read past the end of a cached pack: %v, want ErrRange", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if open := b.packs.open(); open != 0 {
		t.Fatalf("%d pack files open after Close", open)
	}
	// After Close reads still work, without caching.
	if got, err := get(t, b, pack(1), 0, 0); err != nil || got != "pack 001 body" {
		t.Fatalf("after Close: %q, %v", got, err)
	}
	if open := b.packs.open(); open != 0 {
		t.Fatalf("Close did not stop caching: %d open", open)
	}
}

// A pack replaced (Put without IfAbsent) or deleted through the Backend is
// never read from a descriptor opened before.
func TestPackCacheReplaceDelete(t *testing.T) {
	b := newTestBackend(t)
	h := pack(1)
	put(t, b, h, "first", site.PutOptions{IfAbsent: true})
	if got, err := get(t, b, h, 0, 0); err != nil || got != "first" {
		t.Fatalf("get = %q, %v", got, err)
	}
	put(t, b, h, "second body", site.PutOptions{})
	if got, err := get(t, b, h, 0, 0); err != nil || got != "second body" {
		t.Fatalf("after replacing: get = %q, %v; want the new file", got, err)
	}
	if err := b.Delete(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, b, h, 0, 0); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if _, err := get(t, b, pack(2), 0, 0); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("absent pack: %v, want ErrNotFound", err)
	}
}

// A pack removed or replaced by someone else (the host at a daemon site,
// another process) is not read through the descriptor cached before:
// removed is not found, replaced reads the new bytes.
func TestPackCacheOutsideChange(t *testing.T) {
	b := newTestBackend(t)
	h := pack(1)
	put(t, b, h, "first", site.PutOptions{IfAbsent: true})
	if got, err := get(t, b, h, 0, 0); err != nil || got != "first" {
		t.Fatalf("get = %q, %v", got, err)
	}
	path, err := b.path(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, b, h, 0, 0); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("removed behind the backend: %v, want ErrNotFound (not the cached bytes)", err)
	}
	put(t, b, h, "first", site.PutOptions{IfAbsent: true})
	if _, err := get(t, b, h, 0, 0); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("other bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got, err := get(t, b, h, 0, 0); err != nil || got != "other bytes" {
		t.Fatalf("replaced behind the backend: %q, %v; want the file now on disk", got, err)
	}
	if open := b.packs.open(); open != 1 {
		t.Fatalf("%d descriptors open, want 1 (the old one closed)", open)
	}
}

// Concurrent reads of the same packs share descriptors and each gets its
// own range (run with -race).
func TestPackCacheConcurrent(t *testing.T) {
	b := newTestBackend(t)
	b.packs.max = 3 // evictions while others read
	for i := range 8 {
		put(t, b, pack(i), fmt.Sprintf("pack %03d body", i), site.PutOptions{IfAbsent: true})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for k := range 200 {
				i := (g + k) % 8
				got, err := get(t, b, pack(i), 5, 3)
				if err != nil || got != fmt.Sprintf("%03d", i) {
					errs <- fmt.Errorf("pack %d: %q, %v", i, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if open := b.packs.open(); open > 3 {
		t.Fatalf("%d open, bound 3", open)
	}
}

// Sync fsyncs exactly the files put with Deferred and their folders; a
// file deleted since is skipped; a folder that cannot be synced keeps its
// files pending for the next Sync, and only those (the folders are synced
// concurrently).
func TestSyncPending(t *testing.T) {
	b := newTestBackend(t)
	for _, name := range []string{"aa/1", "aa/2", "bb/3"} {
		put(t, b, site.Handle{Kind: site.KindPack, Name: name}, name, site.PutOptions{IfAbsent: true, Deferred: true})
	}
	put(t, b, site.Handle{Kind: site.KindIndex, Name: "i"}, "not deferred", site.PutOptions{IfAbsent: true})
	if n := len(b.pending); n != 3 {
		t.Fatalf("%d pending after three deferred puts", n)
	}
	if err := b.Delete(t.Context(), site.Handle{Kind: site.KindPack, Name: "aa/2"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(t.Context()); err != nil {
		t.Fatalf("sync with a deleted pending file: %v", err)
	}
	if n := len(b.pending); n != 0 {
		t.Fatalf("%d pending after Sync", n)
	}

	put(t, b, site.Handle{Kind: site.KindPack, Name: "cc/4"}, "four", site.PutOptions{IfAbsent: true, Deferred: true})
	put(t, b, site.Handle{Kind: site.KindPack, Name: "dd/5"}, "five", site.PutOptions{IfAbsent: true, Deferred: true})
	dir := filepath.Join(b.Root(), site.KindPack.String(), "cc")
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(t.Context()); err == nil {
		t.Fatal("sync of a vanished folder succeeded")
	}
	if n := len(b.pending); n != 1 {
		t.Fatalf("%d pending after a failed Sync, want the one file of the vanished folder", n)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(t.Context()); err != nil || len(b.pending) != 0 {
		t.Fatalf("retry: %v, %d pending", err, len(b.pending))
	}
}

// A deferred put that creates a folder leaves the fsync of its parent to
// the next Sync, or to the next put made durable at once below it; the
// uploader does not wait for it.
func TestDeferredFolders(t *testing.T) {
	b := newTestBackend(t)
	kindDir := filepath.Join(b.Root(), site.KindPack.String())
	put(t, b, site.Handle{Kind: site.KindPack, Name: "ee/6"}, "six", site.PutOptions{IfAbsent: true, Deferred: true})
	if !slices.Contains(b.pendingDirs, kindDir) {
		t.Fatalf("pending folders %q lack %s, the parent of the new folder", b.pendingDirs, kindDir)
	}
	// A durable put below a pending folder syncs it first.
	put(t, b, site.Handle{Kind: site.KindPack, Name: "ee/7"}, "seven", site.PutOptions{IfAbsent: true})
	if slices.Contains(b.pendingDirs, kindDir) {
		t.Fatalf("pending folders %q still hold %s after a durable put below it", b.pendingDirs, kindDir)
	}
	put(t, b, site.Handle{Kind: site.KindPack, Name: "ff/8"}, "eight", site.PutOptions{IfAbsent: true, Deferred: true})
	if len(b.pendingDirs) == 0 {
		t.Fatal("no pending folder after a deferred put made a new one")
	}
	// A folder that cannot be synced stays pending.
	if err := os.Rename(kindDir, kindDir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(t.Context()); err == nil {
		t.Fatal("sync with a vanished folder succeeded")
	}
	if !slices.Contains(b.pendingDirs, kindDir) {
		t.Fatalf("pending folders %q lost %s after a failed Sync", b.pendingDirs, kindDir)
	}
	if err := os.Rename(kindDir+".away", kindDir); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(t.Context()); err != nil || len(b.pendingDirs) != 0 || len(b.pending) != 0 {
		t.Fatalf("retry: %v, %d folders and %d files pending", err, len(b.pendingDirs), len(b.pending))
	}
}
