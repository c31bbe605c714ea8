package vault

import (
	"context"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/plan"
)

const applyScenario = `format: embassy-scenario/v1
name: test
state: EE
home: {location: "59.43,24.75"}
classes:
  - {name: reg, label: C2-I3-A3, volume-tb: 2, rto-hours: 24}
paths:
  - {name: p1, kind: fibre, capacity-gbps: 10}
  - {name: p2, kind: subsea, capacity-gbps: 10}
sites:
  - {name: lu, url: "mem:lu", jurisdiction: LU, location: "49.6,6.1", tier: 4, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 100, per-tb-year: 1}, paths: [p1, p2]}
  - {name: ch, url: "mem:ch", jurisdiction: CH, location: "46.2,6.1", tier: 4, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 200, per-tb-year: 1}, paths: [p1]}
  - {name: fi, url: "mem:fi", jurisdiction: FI, location: "60.2,24.9", tier: 3, capacity-tb: 100, agreement: a, cost: {fixed-per-year: 10, per-tb-year: 1}, paths: [p2]}
`

// TestApplyPlan: a dry run lists what would change and changes nothing;
// applying adds the placed sites through the same checks as 'site add';
// a second run has nothing fixable left (idempotent).
func TestApplyPlan(t *testing.T) {
	dir, o := newVault(t)
	v := open(t, dir, o)
	ctx := context.Background()
	s, err := plan.Parse(strings.NewReader(applyScenario), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.Solve(s, plan.Score(s), plan.SolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dry, err := v.ApplyPlan(ctx, s, pl, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Done) == 0 {
		t.Fatalf("a dry run on an empty home found nothing to do: %+v", dry)
	}
	if h, _ := home.Open(v.Home.Dir); len(h.Config.Sites) != 0 {
		t.Fatalf("a dry run changed the registry: %+v", h.Config.Sites)
	}
	done, err := v.ApplyPlan(ctx, s, pl, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Done) == 0 {
		t.Fatalf("apply did nothing: %+v", done)
	}
	h, err := home.Open(v.Home.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Config.Sites) < 2 {
		t.Fatalf("registry after apply: %+v (critical data needs two jurisdictions)", h.Config.Sites)
	}
	v2 := open(t, dir, o)
	_, left, err := v2.Planned(ctx, s, pl)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range left {
		if d.Fixable {
			t.Errorf("after apply, still fixable: %+v", d)
		}
	}
}
