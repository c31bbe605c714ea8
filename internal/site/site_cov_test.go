package site_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// TestValidName: object names come back from hosts in listings; only
// safe relative names pass, so none can escape a site's folder or hide.
func TestValidName(t *testing.T) {
	for _, ok := range []string{"repo", "abc/def-1_2.x", "0123456789abcdef/ab/abcd", strings.Repeat("a", 512)} {
		if err := site.ValidName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../etc/passwd", "a/../../b", "/abs", "a//b", "a/", ".hidden", "a/.b", "A", "a b",
		"a\\b", "caf\u00e9", "a\x00b", strings.Repeat("a", 513)} {
		if err := site.ValidName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := (site.Handle{Kind: 0, Name: "x"}).Validate(); err == nil {
		t.Error("kind 0 accepted")
	}
	if err := (site.Handle{Kind: site.KindLock + 1, Name: "x"}).Validate(); err == nil {
		t.Error("a kind past the last accepted")
	}
}

// FuzzValidName: every accepted name is clean relative path (no "..", no
// empty or hidden components, nothing path.Clean would change).
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"repo", "a/b", "../x", "a/./b", ".", "a..b", "x/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if site.ValidName(name) != nil {
			return
		}
		if path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "..") {
			t.Fatalf("accepted %q, which path.Clean makes %q", name, path.Clean(name))
		}
		for _, part := range strings.Split(name, "/") {
			if part == "" || part[0] == '.' {
				t.Fatalf("accepted %q with component %q", name, part)
			}
		}
	})
}

func TestKinds(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range site.Kinds {
		s := k.String()
		if seen[s] {
			t.Fatalf("two kinds named %q", s)
		}
		seen[s] = true
		back, err := site.ParseKind(s)
		if err != nil || back != k {
			t.Fatalf("ParseKind(%q) = %v, %v", s, back, err)
		}
	}
	if _, err := site.ParseKind("packs"); err == nil {
		t.Fatal("an unknown kind parsed")
	}
	if got := site.Kind(99).String(); got != "kind(99)" {
		t.Fatalf("unknown kind prints %q", got)
	}
	if got := (site.Handle{Kind: site.KindPack, Name: "ab/cd"}).String(); got != "data/ab/cd" {
		t.Fatalf("handle prints %q", got)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("quota exceeded")
	p := site.Permanent(base)
	if !site.IsPermanent(p) || !errors.Is(p, base) || p.Error() != base.Error() {
		t.Fatalf("Permanent(%v) = %v", base, p)
	}
	if !site.IsPermanent(fmt.Errorf("put: %w", p)) {
		t.Fatal("a wrapped permanent error is not permanent")
	}
	for _, s := range []error{site.ErrNotFound, site.ErrExists, site.ErrRange} {
		if !site.IsPermanent(fmt.Errorf("x: %w", s)) {
			t.Errorf("%v is retried", s)
		}
	}
	if site.IsPermanent(base) || site.Permanent(nil) != nil {
		t.Fatal("a plain error is permanent, or Permanent(nil) is not nil")
	}
}

type syncing struct {
	site.Backend
	synced int
}

func (s *syncing) Sync(context.Context) error { s.synced++; return nil }

type wrapper struct{ site.Backend }

func (w wrapper) Unwrap() site.Backend { return w.Backend }

// TestSyncThroughDecorators: Sync finds the Syncer under any number of
// decorators, and does nothing for a site without one.
func TestSyncThroughDecorators(t *testing.T) {
	ctx := context.Background()
	inner := &syncing{Backend: mem.New(site.Properties{})}
	if err := site.Sync(ctx, wrapper{wrapper{inner}}); err != nil || inner.synced != 1 {
		t.Fatalf("sync through two decorators: %v, %d syncs", err, inner.synced)
	}
	if err := site.Sync(ctx, wrapper{mem.New(site.Properties{})}); err != nil {
		t.Fatal(err)
	}
	if err := site.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestReadHelpers(t *testing.T) {
	ctx := context.Background()
	b := mem.New(site.Properties{})
	h := site.Handle{Kind: site.KindIndex, Name: "x"}
	if err := b.Put(ctx, h, site.Bytes("0123456789"), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := site.ReadAll(ctx, b, h); err != nil || string(got) != "0123456789" {
		t.Fatalf("ReadAll: %q %v", got, err)
	}
	if got, err := site.ReadRange(ctx, b, h, 3, 4); err != nil || string(got) != "3456" {
		t.Fatalf("ReadRange: %q %v", got, err)
	}
	if _, err := site.ReadRange(ctx, b, h, 8, 4); err == nil {
		t.Fatal("a range past the end read")
	}
	if _, err := site.ReadAll(ctx, b, site.Handle{Kind: site.KindIndex, Name: "y"}); !errors.Is(err, site.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	if p := site.Bytes("abc"); p.Len() != 3 {
		t.Fatal("Bytes.Len")
	}
}
