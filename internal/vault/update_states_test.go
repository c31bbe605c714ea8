package vault

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/hint"
)

// Each approval's state at the vault's clock: in force, then expired from
// its end on; not yet valid before it was issued; revoked at once.
func TestUpdateStates(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	ctx := context.Background()
	states := func() []string {
		t.Helper()
		rows, err := v.UpdateStates()
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, r := range rows {
			out = append(out, r.Artifact+" "+r.State)
		}
		return out
	}
	if d := cmp.Diff([]string{}, states()); d != "" {
		t.Fatalf("no approvals (-want +got):\n%s", d)
	}
	// The digest is taken in lowercase, however it was typed.
	a, err := v.ApproveUpdate(ctx, UpdateApproval{Artifact: "embassyd", Digest: strings.Repeat("AB", 32), Until: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != strings.Repeat("ab", 32) {
		t.Fatalf("digest %s", a.Digest)
	}
	now = now.Add(time.Minute)
	b, err := v.ApproveUpdate(ctx, UpdateApproval{Artifact: "firmware", Measurements: map[string]string{"pcr.sha256.0": "00"}, Until: testNow.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"embassyd in-force", "firmware in-force"}, states()); d != "" {
		t.Fatalf("both in force (-want +got):\n%s", d)
	}
	now = testNow.Add(time.Hour)
	if d := cmp.Diff([]string{"embassyd expired", "firmware in-force"}, states()); d != "" {
		t.Fatalf("first ended (-want +got):\n%s", d)
	}
	if err := v.RevokeUpdate(ctx, b.ID, "recalled"); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"embassyd expired", "firmware revoked"}, states()); d != "" {
		t.Fatalf("second revoked (-want +got):\n%s", d)
	}
	now = testNow.Add(-time.Minute)
	if d := cmp.Diff([]string{"embassyd not-yet-valid", "firmware revoked"}, states()); d != "" {
		t.Fatalf("clock before issue (-want +got):\n%s", d)
	}
}

// Which checks are alerts, and the failure of a check that found some.
func TestUpdateCheckErr(t *testing.T) {
	res := []UpdateCheck{{Site: "lu", Status: "approved"}, {Site: "be", Status: UpdateCheckError}}
	for _, r := range res {
		if r.Unapproved() {
			t.Fatalf("%s (%s) taken as unapproved", r.Site, r.Status)
		}
	}
	if err := UpdateCheckErr(res); err != nil {
		t.Fatalf("approved and unreadable: %v", err)
	}
	res = append(res, UpdateCheck{Site: "nl", Status: "unapproved"}, UpdateCheck{Site: "de", Status: "revoked"}, UpdateCheck{Site: "fr", Status: "expired"})
	wantErr(t, "three alerts", UpdateCheckErr(res), "unapproved update at nl, de, fr (alert logged)",
		"approve the build with 'embassy update approve --artifact embassyd --digest DIGEST --until DATE' if the sending state vetted it, or have the host restore the approved one",
		hint.CodeDamaged)
}
