package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/policy"
)

// TestReleaseGate: the broker's release decision is the vault's policy
// engine's: an attested workload at a registered site gets the key of an
// ordinary class; a site outside the registry, a class whose keys never
// leave home, and an open break-glass (or a log that cannot say) are
// refused with the rule's reason.
func TestReleaseGate(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	shut := func(context.Context, string) (policy.BreakGlass, error) { return policy.BreakGlass{}, nil }
	if err := v.ReleaseGate(ctx, "model", "C1-I1-A1", "lu", shut); err != nil {
		t.Fatalf("ordinary class at a registered site: %v", err)
	}
	if err := v.ReleaseGate(ctx, "model", "C1-I1-A1", "lu", nil); err != nil {
		t.Fatalf("no break-glass source: %v", err)
	}
	if err := v.ReleaseGate(ctx, "model", "C1-I1-A1", "mars", shut); err == nil || !strings.Contains(err.Error(), "not in the registry") {
		t.Fatalf("unregistered site: %v", err)
	}
	opened := func(_ context.Context, s string) (policy.BreakGlass, error) {
		return policy.BreakGlass{Site: s, Open: true}, nil
	}
	if err := v.ReleaseGate(ctx, "model", "C1-I1-A1", "lu", opened); err == nil || !strings.Contains(err.Error(), "break-glass") {
		t.Fatalf("open break-glass: %v", err)
	}
	unreadable := func(context.Context, string) (policy.BreakGlass, error) {
		return policy.BreakGlass{}, errors.New("log unreadable")
	}
	if err := v.ReleaseGate(ctx, "model", "C1-I1-A1", "lu", unreadable); err == nil || !strings.Contains(err.Error(), "break-glass") {
		t.Fatalf("a log that cannot say is taken as an open break-glass: %v", err)
	}
	var g releaseGate = func(ctx context.Context, ds, site string) error {
		return v.ReleaseGate(ctx, ds, "C1-I1-A1", site, shut)
	}
	if err := g.AllowRelease(ctx, "model", "lu"); err != nil {
		t.Fatalf("AllowRelease: %v", err)
	}

	// A class whose keys never leave home (a fresh vault reads the rule).
	if err := os.WriteFile(filepath.Join(v.Home.Dir, policy.SettingsFile), []byte("classes:\n  - class: C2-I0-A0\n    key-policy: home-only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v2 := open(t, dir, o)
	err := v2.ReleaseGate(ctx, "model", "C2-I1-A1", "lu", shut)
	var den *Denial
	if !errors.As(err, &den) || den.Action != policy.KeyRelease || den.Site != "lu" || len(den.Rules) == 0 || !strings.Contains(err.Error(), "home-only") {
		t.Fatalf("home-only class: want a structured key-release denial at lu naming its rule, got %#v (%v)", den, err)
	}
	if ds := v2.gate.Decisions(); len(ds) == 0 || ds[len(ds)-1].Allow {
		t.Fatalf("the denial is not among the gate's decisions: %+v", ds)
	}
	if err := v2.ReleaseGate(ctx, "model", "C1-I1-A1", "lu", shut); err != nil {
		t.Fatalf("a class the rule does not cover: %v", err)
	}
}
