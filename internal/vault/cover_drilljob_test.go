package vault

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/protect"
)

const drillPlan = `name: registers
sites:
  - {name: lu, url: "mem:lu"}
  - {name: ch, url: "mem:ch"}
datasets:
  - {name: population, rpo: 24h}
rto: 1h
`

// TestCoverDrillCadence: a plan is drilled on the baseline's 90 days, or
// sooner if an installed agreement of one of its sites says so (MC-LU
// does not); a
// configured every may only make it sooner; a plan that does not load
// names the schedule entry; a drill whose identities do not load fails
// its run.
func TestCoverDrillCadence(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(drillPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := failover.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	cadence := func() string {
		t.Helper()
		every, why, err := v.DrillCadence(p)
		if err != nil {
			t.Fatal(err)
		}
		return every.String() + " from " + why
	}
	if got := cadence(); got != "2160h0m0s from the baseline" {
		t.Errorf("no agreements: %s", got)
	}
	installAgreement(t, v, "mc-lu.signed.yaml", "mc", "lu")
	if got := cadence(); got != "2160h0m0s from the baseline" {
		t.Errorf("lu under an agreement that keeps the baseline's term: %s", got)
	}

	j, err := v.drillJob(0, protect.DrillJob{Plan: path, Every: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if j.Name != "drill:registers" || j.Every != 24*time.Hour {
		t.Errorf("job %s every %v, want drill:registers every 24h", j.Name, j.Every)
	}
	j, err = v.drillJob(0, protect.DrillJob{Plan: path, Every: 3000 * time.Hour, Identities: []string{filepath.Join(dir, "none.key")}})
	if err != nil {
		t.Fatal(err)
	}
	if j.Every != 2160*time.Hour {
		t.Errorf("an every later than the agreement's: job every %v, want 2160h", j.Every)
	}
	_, err = j.Run(context.Background(), testNow, &JobState{})
	if err == nil || err.Error() != "identity: open "+filepath.Join(dir, "none.key")+": no such file or directory" {
		t.Errorf("drill with a missing identity: %v", err)
	}
	_, err = v.drillJob(2, protect.DrillJob{Plan: filepath.Join(dir, "none.yaml")})
	if want := "schedule.drills[2].plan: open " + filepath.Join(dir, "none.yaml") + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing plan: %v, want %q", err, want)
	}
}
