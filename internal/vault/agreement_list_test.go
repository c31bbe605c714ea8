package vault

import (
	"slices"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
)

// ListAgreements flags each installed agreement by its term and review date
// and names the sites hosted under it.
func TestListAgreements(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	if rows, flagged, err := ListAgreements(v.Home, agreement.DefaultBaseline(), testNow); err != nil || len(rows) != 0 || rows == nil || flagged {
		t.Fatalf("no agreements: %v %v %v", rows, flagged, err)
	}
	installAgreement(t, v, "mc-lu.signed.yaml", "mc-lu", "lu")
	for _, c := range []struct {
		at      time.Time
		status  string
		flagged bool
	}{
		{time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), "not yet in force", false},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "active", false},
		{testNow, "active, review overdue", true},
		{time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC), "expired, review overdue", true},
	} {
		rows, flagged, err := ListAgreements(v.Home, agreement.DefaultBaseline(), c.at)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].ID != "mc-lu" || rows[0].Status != c.status || flagged != c.flagged || !slices.Equal(rows[0].Sites, []string{"lu"}) {
			t.Errorf("at %s: %+v flagged %v, want status %q flagged %v sites [lu]", c.at.Format(time.DateOnly), rows, flagged, c.status, c.flagged)
		}
	}
}
