package vault

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
)

// signedReport is a crisis activation made at made, signed and endorsed by root.
func signedReport(t *testing.T, v *Vault, root *keys.Root, made time.Time) []byte {
	t.Helper()
	doc, err := evidence.Sign(evidence.KindActivation, map[string]any{"plan": "registers", "time": made}, root.Signer(), v.Home.Config.Home, root.Epoch, root.Signer())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCoverCheckReport: a report endorsed by epoch 1 checks with no home
// at hand (the home id binds it), against the local home and against a
// site of the home; after a rotation, a report of epoch 2 needs the
// home's epochs, and one of epoch 1 made after the rotation is refused;
// an altered report, another expected key and an unreachable site are
// refused with exit 3.
func TestCoverCheckReport(t *testing.T) {
	now := testNow
	dir, o := newFSVault(t, &now, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	ctx := context.Background()
	root1 := v.Repo.Root()
	r1 := signedReport(t, v, root1, now)
	luURL := filepath.Join(dir, "site-lu")
	for _, req := range []ReportCheckRequest{{}, {Local: v}, {Site: luURL}} {
		cr, err := CheckReport(ctx, r1, req)
		if err != nil {
			t.Fatalf("epoch-1 report (%+v): %v", req, err)
		}
		if cr.Kind != evidence.KindActivation || cr.Epoch != 1 || !cr.Endorsed || cr.Body["plan"] != "registers" {
			t.Fatalf("checked %+v", cr)
		}
	}
	cr, _ := CheckReport(ctx, r1, ReportCheckRequest{})
	if _, err := CheckReport(ctx, r1, ReportCheckRequest{Key: cr.RootKey}); err != nil {
		t.Errorf("expected key = root key: %v", err)
	}
	_, err := CheckReport(ctx, r1, ReportCheckRequest{Key: "c29tZW9uZSBlbHNl"})
	wantCode(t, err, hint.CodeDamaged, "report is signed by "+cr.Key+", not by c29tZW9uZSBlbHNl", "")
	altered := []byte(strings.Replace(string(r1), `"plan"`, `"plam"`, 1))
	if _, err := CheckReport(ctx, altered, ReportCheckRequest{}); hint.CodeOf(err) != hint.CodeDamaged {
		t.Errorf("altered report: %v (code %d)", err, hint.CodeOf(err))
	}
	if _, err := CheckReport(ctx, []byte("not json"), ReportCheckRequest{}); hint.CodeOf(err) != hint.CodeDamaged {
		t.Errorf("garbage: %v (code %d)", err, hint.CodeOf(err))
	}
	_, err = CheckReport(ctx, r1, ReportCheckRequest{Site: "sftp://"})
	if err == nil || !strings.HasPrefix(err.Error(), "site sftp://: ") || hint.Of(err) != "check the URL and that the site is reachable" {
		t.Errorf("bad site: %v (hint %q)", err, hint.Of(err))
	}

	now = testNow.Add(30 * time.Minute) // the rotation's time dates epoch 2
	rep, _, err := v.Rotate(ctx, RotateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	root2, err := v.Home.LoadRoot(rep.NewEpoch)
	if err != nil {
		t.Fatal(err)
	}
	now = testNow.Add(time.Hour)
	r2 := signedReport(t, v, root2, now)
	if _, err := CheckReport(ctx, r2, ReportCheckRequest{Local: v}); err != nil {
		t.Errorf("epoch-2 report against the local home: %v", err)
	}
	_, err = CheckReport(ctx, r2, ReportCheckRequest{})
	wantCode(t, err, hint.CodeDamaged, "report is endorsed by home "+v.Home.Config.Home+" key epoch 2, which cannot be checked here: signature does not verify", "give --site URL of a site of that home so that its signed key epochs can be checked")
	// Epoch 2 is dated by the vault's clock: an epoch-1 report made before
	// the rotation still checks, one made after it is refused.
	if _, err := CheckReport(ctx, signedReport(t, v, root1, testNow.Add(29*time.Minute)), ReportCheckRequest{Local: v}); err != nil {
		t.Errorf("epoch-1 report made before the rotation: %v", err)
	}
	late := signedReport(t, v, root1, testNow.Add(45*time.Minute))
	_, err = CheckReport(ctx, late, ReportCheckRequest{Local: v})
	wantCode(t, err, hint.CodeDamaged, "made 2026-11-25T10:45:00Z, after key epoch 2 replaced epoch 1 (2026-11-25T10:30:00Z): signature does not verify",
		"the report was not endorsed by a key the home held at the time: do not trust it")
}
