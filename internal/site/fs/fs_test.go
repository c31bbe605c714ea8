package fs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
	"github.com/google/go-cmp/cmp"
)

func newBackend(t *testing.T) *fs.Backend {
	b, err := fs.New(t.Context(), fs.Config{Path: t.TempDir(), Name: "local", Jurisdiction: "EE"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	sitetest.Run(t, func(t *testing.T) site.Backend { return newBackend(t) })
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" means an error
	}{
		{"/srv/embassy", "/srv/embassy"},
		{"/srv/embassy/", "/srv/embassy"},
		{"rel/dir", "rel/dir"},
		{"file:///srv/embassy", "/srv/embassy"},
		{"file://localhost/srv/x", "/srv/x"},
		{"file:///srv/a%20b", "/srv/a b"},
		{"", ""},
		{"file://host/srv", ""},
		{"file:rel", ""},
		{"file://", ""},
		{"file:///srv?x=1", ""},
		{"file://u:p@localhost/srv", ""},
	} {
		cfg, err := fs.ParseConfig(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseConfig(%q) = %+v, want an error", tc.in, cfg)
			}
			continue
		}
		if err != nil || cfg.Path != tc.want {
			t.Errorf("ParseConfig(%q) = %q, %v; want %q", tc.in, cfg.Path, err, tc.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"/a/b", "file:///a", "file://localhost/x", "file:x", "c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := fs.ParseConfig(s)
		if err == nil && cfg.Path == "" {
			t.Errorf("ParseConfig(%q): empty path without error", s)
		}
	})
}

func TestNewMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	_, err := fs.New(t.Context(), fs.Config{Path: dir})
	if err == nil || !strings.Contains(err.Error(), dir+" does not exist: create it or check the path") {
		t.Fatalf("New of missing dir: got %v", err)
	}
	b, err := fs.New(t.Context(), fs.Config{Path: dir, Create: true})
	if err != nil {
		t.Fatalf("New with Create: %v", err)
	}
	if got, want := b.Properties().Location, "file://"+dir; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := fs.New(t.Context(), fs.Config{Path: file}); err == nil {
		t.Error("New of a regular file succeeded")
	}
}

func TestLayoutAndTempFiles(t *testing.T) {
	b := newBackend(t)
	h := site.Handle{Kind: site.KindPack, Name: "ab12/cd/ef.pack"}
	sitetest.Put(t, b, h, []byte("x"), site.PutOptions{IfAbsent: true})
	dir := filepath.Join(b.Root(), "data", "ab12", "cd")
	if _, err := os.Stat(filepath.Join(dir, "ef.pack")); err != nil {
		t.Fatalf("object not at <root>/<kind>/<name>: %v", err)
	}
	if err := b.Put(t.Context(), h, site.Bytes("y"), site.PutOptions{IfAbsent: true}); !errors.Is(err, site.ErrExists) {
		t.Fatalf("second Put: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}

	// Leftovers of a crash: one stale, one fresh temp file, and a stray file.
	stale := filepath.Join(dir, ".tmp-stale")
	fresh := filepath.Join(dir, ".tmp-fresh")
	for _, p := range []string{stale, fresh, filepath.Join(dir, "UPPER")} {
		if err := os.WriteFile(p, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	if diff := cmp.Diff(map[string]int64{h.Name: 1}, sitetest.Names(t, b, site.KindPack)); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	n, err := b.Clean(t.Context(), 0)
	if err != nil || n != 1 {
		t.Errorf("Clean = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temp file survived Clean")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("Clean removed a fresh temp file")
	}
}

func TestHints(t *testing.T) {
	b := newBackend(t)
	if os.Geteuid() != 0 {
		os.Chmod(b.Root(), 0o500)
		t.Cleanup(func() { os.Chmod(b.Root(), 0o700) })
		err := b.Put(t.Context(), site.Handle{Kind: site.KindKey, Name: "k"}, site.Bytes("x"), site.PutOptions{})
		if err == nil || !strings.Contains(err.Error(), "permission denied") || !site.IsPermanent(err) {
			t.Errorf("Put into read-only dir: %v", err)
		}
	}
	full := fs.Hint(&os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, "/site")
	if !strings.Contains(full.Error(), "disk full") || !errors.Is(full, syscall.ENOSPC) || !site.IsPermanent(full) {
		t.Errorf("hint(ENOSPC) = %v", full)
	}
}

// TestCleanOnOpen is issue 11 item 16: temp files left by killed runs are
// removed when the site is next opened, if they are old enough.
func TestCleanOnOpen(t *testing.T) {
	root := t.TempDir()
	b, err := fs.New(t.Context(), fs.Config{Path: root})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), site.Handle{Kind: site.KindPack, Name: "ab/cd"}, site.Bytes("x"), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, site.KindPack.String(), "ab")
	stale, fresh := filepath.Join(dir, ".tmp-killed"), filepath.Join(dir, ".tmp-running")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * fs.StaleAfter)
	os.Chtimes(stale, old, old)
	os.Remove(filepath.Join(root, ".clean-stamp")) // the first open made one; pretend it was long ago
	if _, err := fs.New(t.Context(), fs.Config{Path: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("temp file of a killed run survived the next open")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("open removed a temp file young enough to be in use")
	}
}
