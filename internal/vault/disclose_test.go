package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// installAgreement installs an example agreement and puts site under it.
func installAgreement(t *testing.T, v *Vault, example, id, site string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("../../examples/agreements", example))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(AgreementsDir(v.Home), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(AgreementsDir(v.Home), id+".yaml"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	sc, _ := v.Home.Site(site)
	sc.Agreement = id
	if err := v.Home.Save(); err != nil {
		t.Fatal(err)
	}
}

// TestDisclosuresUseEachSitesDeadline (issue 10): 'embassy disclosures'
// measures each disclosure against its own site's agreement: an access
// disclosed 18 h late is late under MC-LU's 12 hours and on time at a
// site under the baseline's 24; an override applies to every site.
func TestDisclosuresUseEachSitesDeadline(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	ctx := context.Background()
	v := open(t, dir, o)
	installAgreement(t, v, "mc-lu.signed.yaml", "mc-lu", "lu")
	at := testNow.Add(-18 * time.Hour)
	for _, s := range []string{"lu", "ch"} {
		res, err := v.Disclose(ctx, DiscloseRequest{Site: s, Reason: tlog.ReasonHostService, Who: "tech 4411", What: "rack B3 PSU", Access: "physical", At: at})
		if err != nil {
			t.Fatal(err)
		}
		if res.Delay != 18*time.Hour || !res.Entry.Time.Equal(testNow) || res.Entry.Actor != "tech 4411" || res.Asked {
			t.Errorf("%s: disclosure %+v", s, res)
		}
	}
	late := func(rep *DisclosuresReport) []string {
		var out []string
		for _, d := range rep.Disclosures {
			if d.Late {
				out = append(out, d.Site)
			}
		}
		return out
	}
	rep, err := v.Disclosures(ctx, DisclosuresRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := late(rep); !slices.Equal(got, []string{"lu"}) || rep.Deadline("lu") != 12*time.Hour || rep.Deadline("ch") != tlog.DefaultAllowed {
		t.Errorf("late at %v (deadlines lu %s, ch %s); want lu only under 12 h", got, rep.Deadline("lu"), rep.Deadline("ch"))
	}
	rep, err = v.Disclosures(ctx, DisclosuresRequest{Override: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := late(rep); len(got) != 0 {
		t.Errorf("with a 48 h override, late at %v", got)
	}
	rep, err = v.Disclosures(ctx, DisclosuresRequest{Site: "ch"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Disclosures) != 1 || rep.Disclosures[0].Site != "ch" {
		t.Errorf("site filter: %+v", rep.Disclosures)
	}
}

// TestDiscloseLegalDemandAsksPolicy: a legal demand is logged whether or
// not it was approved; without an approval the gate's disclose action
// denies it (structured rule, logged) and Disclose returns the refusal
// (exit 3) with the logged index, with one it allows it.
func TestDiscloseLegalDemandAsksPolicy(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	ctx := context.Background()
	var warned []string
	o.Warn = func(msg string) { warned = append(warned, msg) }
	v := open(t, dir, o)
	req := DiscloseRequest{Site: "lu", Reason: tlog.ReasonThirdPartyRequest, Access: "legal-demand", Who: "LU court order 2026/77", What: "ciphertext of census"}
	res, err := v.Disclose(ctx, req)
	if res == nil || !res.Asked || res.Decision.Allow || res.Decision.Action != policy.Disclose || len(res.Decision.Rules) == 0 || len(warned) != 0 {
		t.Fatalf("unapproved legal demand: %+v, %v, warnings %v", res, err, warned)
	}
	want := fmt.Sprintf("policy denies disclosure %d at site lu (disclosure-approval): disclosing dataset (all) from site lu needs the sending state's prior approval: none was given", res.Index)
	if err == nil || err.Error() != want || hint.CodeOf(err) != hint.CodeDamaged {
		t.Fatalf("unapproved legal demand: err %v (code %d), want %q (code 3)", err, hint.CodeOf(err), want)
	}
	if n := len(keyEntries(t, v, tlog.KindDisclosure)); n != 1 {
		t.Errorf("%d disclosures logged, want the refused access logged", n)
	}
	req.Approval = "MFA-2026-17"
	res2, err := v.Disclose(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !res2.Asked || !res2.Decision.Allow || res2.Index <= res.Index {
		t.Fatalf("approved legal demand: %+v", res2)
	}
	if n := len(keyEntries(t, v, tlog.KindDisclosure)); n != 2 {
		t.Errorf("%d disclosures logged, want both", n)
	}
	// Bad input is a usage error, and nothing is logged.
	if _, err := v.Disclose(ctx, DiscloseRequest{Site: "lu", Reason: "NOT_A_CODE", Who: "x", What: "y", Access: "physical"}); err == nil {
		t.Error("an unknown reason code was accepted")
	}
	if _, err := v.Disclose(ctx, DiscloseRequest{Site: "nowhere", Reason: tlog.ReasonThirdPartyRequest, Who: "x", What: "y"}); err == nil {
		t.Error("an unknown site was accepted")
	}
	for _, bad := range []struct {
		req  DiscloseRequest
		want string
	}{
		{DiscloseRequest{Site: "lu", Reason: tlog.ReasonThirdPartyRequest, Access: "legal-demand", Who: "court", What: "y", Dataset: "nosuch"},
			`disclosure --dataset nosuch: the home holds no dataset named "nosuch"`},
	} {
		if _, err := v.Disclose(ctx, bad.req); err == nil || err.Error() != bad.want || hint.CodeOf(err) != hint.CodeUsage {
			t.Errorf("%+v: err %v, want %q (usage)", bad.req, err, bad.want)
		}
	}
	if n := len(keyEntries(t, v, tlog.KindDisclosure)); n != 2 {
		t.Errorf("%d disclosures logged after bad input, want 2", n)
	}
}
