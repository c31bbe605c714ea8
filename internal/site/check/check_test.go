package check

import (
	"context"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// every check Run performs, in order.
var names = []string{
	"put and get back",
	"create-only put refuses an existing object",
	"concurrent create-only puts: exactly one wins",
	"ranged get",
	"stat reports the size",
	"list shows written objects",
	"missing objects are reported as missing",
	"large object (1 MiB) streams intact",
	"delete removes",
}

// results runs the checks and indexes them by name, failing unless every
// check ran exactly once, in order.
func results(t *testing.T, b site.Backend) map[string]Result {
	t.Helper()
	rs := Run(context.Background(), b, Options{LargeSize: 1 << 20})
	if len(rs) != len(names) {
		t.Fatalf("%d results, want %d: %+v", len(rs), len(names), rs)
	}
	out := map[string]Result{}
	for i, r := range rs {
		if r.Name != names[i] {
			t.Fatalf("check %d is %q, want %q", i, r.Name, names[i])
		}
		if r.OK != (r.Detail == "") {
			t.Errorf("%s: ok=%v with detail %q", r.Name, r.OK, r.Detail)
		}
		out[r.Name] = r
	}
	return out
}

func leftovers(t *testing.T, b site.Backend) {
	t.Helper()
	n := 0
	b.List(context.Background(), site.KindLock, func(site.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("check left %d objects behind", n)
	}
}

func TestRunOnGoodSite(t *testing.T) {
	b := mem.New(site.Properties{Name: "m"})
	for _, r := range results(t, b) {
		if !r.OK {
			t.Errorf("%s: %s", r.Name, r.Detail)
		}
	}
	leftovers(t, b)
}

// TestRunOnLyingSite: a site that corrupts every read fails exactly the
// checks that compare bytes read back, and says so; the others pass.
func TestRunOnLyingSite(t *testing.T) {
	f := sitetest.NewFaulty(mem.New(site.Properties{Name: "m"}))
	f.Corrupt(func(site.Handle) bool { return true })
	rs := results(t, f)
	wantFail := map[string]string{
		"put and get back":                           "differs",
		"create-only put refuses an existing object": "changed",
		"ranged get":                                 "wrong bytes",
		"large object (1 MiB) streams intact":        "differs",
	}
	for _, n := range names {
		r := rs[n]
		if want, bad := wantFail[n]; bad {
			if r.OK || !strings.Contains(r.Detail, want) {
				t.Errorf("%s on a corrupting site: ok=%v %q, want a failure saying %q", n, r.OK, r.Detail, want)
			}
		} else if !r.OK {
			t.Errorf("%s failed on a site whose only fault is corrupt reads: %s", n, r.Detail)
		}
	}
}

// overwriting ignores IfAbsent: a site that cannot keep objects write-once.
type overwriting struct{ site.Backend }

func (o overwriting) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	opts.IfAbsent = false
	return o.Backend.Put(ctx, h, p, opts)
}

// TestRunOnOverwritingSite: a site that lets a create-only put replace an
// object fails the write-once checks and names the guarantee it lacks.
func TestRunOnOverwritingSite(t *testing.T) {
	b := mem.New(site.Properties{Name: "m"})
	rs := results(t, overwriting{b})
	if r := rs["create-only put refuses an existing object"]; r.OK || !strings.Contains(r.Detail, "write-once") {
		t.Errorf("create-only check: ok=%v %q", r.OK, r.Detail)
	}
	if r := rs["concurrent create-only puts: exactly one wins"]; r.OK || !strings.Contains(r.Detail, "4 of 4") {
		t.Errorf("concurrent check: ok=%v %q", r.OK, r.Detail)
	}
	if r := rs["put and get back"]; !r.OK {
		t.Errorf("put and get back: %s", r.Detail)
	}
	leftovers(t, b)
}

// staleList hides objects from listings (an eventually consistent site).
type staleList struct{ site.Backend }

func (s *staleList) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	return nil
}

func TestRunOnStaleListing(t *testing.T) {
	b := mem.New(site.Properties{Name: "m"})
	rs := results(t, &staleList{Backend: b})
	if r := rs["list shows written objects"]; r.OK || !strings.Contains(r.Detail, "missing from the listing") {
		t.Errorf("list check on a stale listing: ok=%v %q", r.OK, r.Detail)
	}
	leftovers(t, b)
}
