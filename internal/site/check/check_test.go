package check

import (
	"context"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

func TestRunOnGoodSite(t *testing.T) {
	b := mem.New(site.Properties{Name: "m"})
	for _, r := range Run(context.Background(), b, Options{LargeSize: 1 << 20}) {
		if !r.OK {
			t.Errorf("%s: %s", r.Name, r.Detail)
		}
	}
	n := 0
	b.List(context.Background(), site.KindLock, func(site.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("check left %d objects behind", n)
	}
}

func TestRunOnLyingSite(t *testing.T) {
	f := sitetest.NewFaulty(mem.New(site.Properties{Name: "m"}))
	f.Corrupt(func(site.Handle) bool { return true })
	bad := 0
	for _, r := range Run(context.Background(), f, Options{LargeSize: 1 << 20}) {
		if !r.OK {
			bad++
		}
	}
	if bad == 0 {
		t.Fatal("a site that corrupts reads passed every check")
	}
}
