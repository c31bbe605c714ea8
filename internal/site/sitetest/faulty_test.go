package sitetest_test

import (
	"errors"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

func TestFaultyConformance(t *testing.T) {
	sitetest.Run(t, func(t *testing.T) site.Backend {
		return sitetest.NewFaulty(mem.New(site.Properties{}))
	})
}

func TestFaulty(t *testing.T) {
	ctx := t.Context()
	a := site.Handle{Kind: site.KindPack, Name: "a"}
	b := site.Handle{Kind: site.KindPack, Name: "b"}
	only := func(h site.Handle) func(site.Handle) bool { return func(x site.Handle) bool { return x == h } }

	f := sitetest.NewFaulty(mem.New(site.Properties{}))
	sitetest.Put(t, f, a, []byte("abc"), site.PutOptions{})
	sitetest.Put(t, f, b, []byte("xyz"), site.PutOptions{})

	// Nth: only the second matching Stat fails.
	f.Inject(sitetest.Fault{Ops: sitetest.OpStat, Match: only(a), Nth: 2})
	var errs []error
	for range 3 {
		_, err := f.Stat(ctx, a)
		errs = append(errs, err)
	}
	if errs[0] != nil || !errors.Is(errs[1], sitetest.ErrInjected) || errs[2] != nil {
		t.Errorf("Nth=2: got %v", errs)
	}
	if _, err := f.Stat(ctx, b); err != nil {
		t.Errorf("Stat of unmatched handle: %v", err)
	}

	// After: the Put happens, then fails.
	f.Clear()
	c := site.Handle{Kind: site.KindPack, Name: "c"}
	f.Inject(sitetest.Fault{Ops: sitetest.OpPut, After: true, Nth: 1})
	if err := f.Put(ctx, c, site.Bytes("c"), site.PutOptions{}); !errors.Is(err, sitetest.ErrInjected) {
		t.Errorf("Put with lost reply: %v", err)
	}
	if got := sitetest.Get(t, f, c); string(got) != "c" {
		t.Errorf("object after lost reply: %q", got)
	}

	// Corrupt flips the first byte of what Get returns.
	f.Corrupt(only(a))
	if got := sitetest.Get(t, f, a); string(got) != "`bc" {
		t.Errorf("corrupted Get: %q", got)
	}
	if got, _ := site.ReadRange(ctx, f, a, 1, 2); string(got) != "cc" {
		t.Errorf("corrupted ReadRange(1, 2): %q", got)
	}
	if got := sitetest.Get(t, f, b); string(got) != "xyz" {
		t.Errorf("uncorrupted Get: %q", got)
	}

	// Drop hides objects and swallows writes.
	f.Clear()
	f.Drop(only(a))
	if _, err := f.Stat(ctx, a); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("Stat of dropped: %v", err)
	}
	if err := f.Put(ctx, a, site.Bytes("new"), site.PutOptions{}); err != nil {
		t.Errorf("Put of dropped: %v", err)
	}
	if names := sitetest.Names(t, f, site.KindPack); len(names) != 2 {
		t.Errorf("List with a dropped object: %v", names)
	}
	f.Drop(nil)
	if got := sitetest.Get(t, f, a); string(got) != "abc" {
		t.Errorf("after Drop(nil): %q, want the original", got)
	}
	if n := f.Calls(sitetest.OpStat); n != 5 {
		t.Errorf("Calls(OpStat) = %d, want 5", n)
	}
}
