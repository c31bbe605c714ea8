package vault

import (
	"context"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestBreakGlassAt: no log, no break-glass; an emergency disclosure at a
// site opens one there (and only there), followed incrementally as the
// log grows; only the home's close event closes it.
func TestBreakGlassAt(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	ctx := context.Background()
	if bg, err := v.BreakGlassAt(ctx, "lu"); err != nil || bg.Open {
		t.Fatalf("empty log: %+v %v", bg, err)
	}
	if _, err := v.Disclose(ctx, DiscloseRequest{Site: "lu", Reason: tlog.ReasonEmergency, Who: "guard 7", What: "flood in hall B",
		Access: "physical", At: testNow.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if bg, err := v.BreakGlassAt(ctx, "lu"); err != nil || !bg.Open {
		t.Fatalf("after an emergency disclosure at lu: %+v %v", bg, err)
	}
	if bg, _ := v.BreakGlassAt(ctx, "ch"); bg.Open {
		t.Fatal("a break-glass at lu opened one at ch")
	}
	if err := v.Recorder().Append(ctx, policy.BreakGlassEntry("lu", "water pumped out")); err != nil {
		t.Fatal(err)
	}
	if bg, err := v.BreakGlassAt(ctx, "lu"); err != nil || bg.Open {
		t.Fatalf("after the home closed it: %+v %v", bg, err)
	}
}
