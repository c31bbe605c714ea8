package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// wantErr fails unless err has exactly this text, hint and code.
func wantErr(t *testing.T, what string, err error, text, advice string, code hint.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %q", what, text)
	}
	if err.Error() != text || hint.Of(err) != advice || hint.CodeOf(err) != code {
		t.Fatalf("%s:\n got %q (hint %q, code %v)\nwant %q (hint %q, code %v)", what, err, hint.Of(err), hint.CodeOf(err), text, advice, code)
	}
}

const tamperedHint = "the file, the log or a witness was tampered with, or the trust anchor is wrong; get the policy from the sending state out of band"

// auditVault is a home with a few entries logged a minute apart, and its
// clock (movable).
func auditVault(t *testing.T) (*Vault, *time.Time) {
	t.Helper()
	dir, o := newVault(t, "lu=LU")
	now := testNow
	o.Clock = func() time.Time { return now }
	v := open(t, dir, o)
	ctx := context.Background()
	for i := range 3 {
		now = now.Add(time.Minute)
		if err := v.Recorder().Append(ctx, tlog.Entry{Kind: tlog.KindPolicyChange, Object: fmt.Sprint("test:", i), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Minute)
	return v, &now
}

// The receipt of one entry is written, verifies offline against the
// home's policy, and each refusal names why and the way out.
func TestAuditReceiptAndVerify(t *testing.T) {
	v, _ := auditVault(t)
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "r.tlog-proof")
	rc, err := v.AuditReceipt(ctx, AuditReceiptRequest{Index: 1, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil || rc.File != out || rc.Index != 1 || rc.Bytes != len(data) {
		t.Fatalf("receipt %+v, file %d bytes: %v", rc, len(data), err)
	}
	policy := filepath.Join(v.Home.Dir, "log", tlog.PolicyFile)
	res, err := AuditVerify(AuditVerifyRequest{File: out, HomeDir: v.Home.Dir})
	if err != nil {
		t.Fatal(err)
	}
	rd, _ := v.Recorder().Reader()
	cp, ents, _ := rd.All(ctx)
	if res.Type != AuditReceiptType || res.Entry.Index != 1 || res.Entry.Object != ents[1].Object || res.Origin != cp.Origin ||
		res.TreeSize != cp.Size || res.PolicyFrom != policy || res.Policy == nil || len(res.Cosigners) == 0 {
		t.Fatalf("verified receipt %+v", res)
	}
	// The same with --policy: the anchor is the file named.
	if res, err := AuditVerify(AuditVerifyRequest{File: out, PolicyFile: policy}); err != nil || res.PolicyFrom != policy {
		t.Fatalf("with --policy: %+v %v", res, err)
	}

	_, err = v.AuditReceipt(ctx, AuditReceiptRequest{Index: 99, Output: out})
	wantErr(t, "entry past the log", err, fmt.Sprintf("entry 99 is not in the log yet (size %d)", cp.Size), "", hint.CodeError)
	_, err = v.AuditReceipt(ctx, AuditReceiptRequest{Index: 0})
	wantErr(t, "no output", err, "audit receipt: no output file", "", hint.CodeUsage)

	_, err = AuditVerify(AuditVerifyRequest{File: out, HomeDir: filepath.Join(t.TempDir(), "nohome")})
	wantErr(t, "receipt with no policy", err, "no policy to verify the receipt against", "pass --policy FILE (the log's C2SP tlog-policy)", hint.CodeUsage)

	missing := filepath.Join(t.TempDir(), "missing.policy")
	_, err = AuditVerify(AuditVerifyRequest{File: out, PolicyFile: missing})
	wantErr(t, "missing policy", err, "open "+missing+": no such file or directory", "", hint.CodeUsage)

	garbage := filepath.Join(t.TempDir(), "garbage.policy")
	os.WriteFile(garbage, []byte("not a policy\n"), 0o644)
	_, perr := tlog.ParsePolicy([]byte("not a policy\n"))
	_, err = AuditVerify(AuditVerifyRequest{File: out, PolicyFile: garbage})
	wantErr(t, "garbage policy", err, perr.Error(), "", hint.CodeUsage)

	_, err = AuditVerify(AuditVerifyRequest{File: filepath.Join(t.TempDir(), "none")})
	if !errors.Is(err, os.ErrNotExist) || hint.CodeOf(err) != hint.CodeError {
		t.Fatalf("missing file: %v (code %v)", err, hint.CodeOf(err))
	}

	// One byte of the entry changed.
	bad := append([]byte(nil), data...)
	bad[len("c2sp.org/tlog-proof@v1\n")+8] ^= 1
	badFile := filepath.Join(t.TempDir(), "bad.tlog-proof")
	os.WriteFile(badFile, bad, 0o644)
	_, _, verr := tlog.VerifyReceipt(bad, res.Policy)
	if verr == nil {
		t.Fatal("the tampered receipt verifies")
	}
	_, err = AuditVerify(AuditVerifyRequest{File: badFile, HomeDir: v.Home.Dir})
	wantErr(t, "tampered receipt", err, badFile+" does not verify: "+verr.Error(), tamperedHint, hint.CodeDamaged)
}

// The audit bundle is written atomically with its counts; it verifies
// with no anchor (the warning is given first), and a period it does not
// cover is refused.
func TestAuditExportAndVerify(t *testing.T) {
	v, now := auditVault(t)
	ctx := context.Background()
	from := testNow.Add(90 * time.Second)
	out := filepath.Join(t.TempDir(), "evidence.json")
	res, err := v.AuditExportTo(ctx, AuditExportRequest{From: from, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil || res.File != out || res.Bytes != len(data) || res.Bundle == nil {
		t.Fatalf("export %+v: %v", res, err)
	}
	var warned []string
	got, err := AuditVerify(AuditVerifyRequest{File: out, Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != AuditFullType || got.Policy != nil || got.PolicyFrom != AuditEmbeddedPolicy || len(got.Audit.Entries) != res.Entries || res.Entries < 2 {
		t.Fatalf("verified %+v (audit %+v), exported %d entries", got, got.Audit, res.Entries)
	}
	if len(warned) != 1 || warned[0] != "no --policy and no home: trusting the keys inside the bundle" {
		t.Fatalf("warnings %q", warned)
	}
	// The period asked for starts before the bundle's: cut.
	_, err = AuditVerify(AuditVerifyRequest{File: out, HomeDir: v.Home.Dir, Period: true, From: testNow})
	cut := got.Audit.Log.Covers(testNow, time.Time{})
	if !errors.Is(cut, tlog.ErrBundleCut) {
		t.Fatalf("covers: %v", cut)
	}
	wantErr(t, "shorter period", err, out+" does not verify: "+cut.Error(), tamperedHint, hint.CodeDamaged)
	if !errors.Is(err, tlog.ErrBundleCut) {
		t.Fatalf("cut bundle: %v does not wrap ErrBundleCut", err)
	}
	// The period it was made for is covered.
	if _, err := AuditVerify(AuditVerifyRequest{File: out, HomeDir: v.Home.Dir, Period: true, From: from}); err != nil {
		t.Fatalf("its own period: %v", err)
	}

	// A plain log bundle of the same period.
	rc := v.Recorder()
	rd, _ := rc.Reader()
	lb, err := rd.Export(ctx, from, *now, rc.Signer)
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "log.json")
	os.WriteFile(plain, lb, 0o644)
	got, err = AuditVerify(AuditVerifyRequest{File: plain, HomeDir: v.Home.Dir})
	if err != nil || got.Type != AuditBundleType || len(got.Entries) == 0 || got.Bundle.Origin == "" || got.PolicyFrom != filepath.Join(v.Home.Dir, "log", tlog.PolicyFile) {
		t.Fatalf("plain bundle: %+v %v", got, err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.json")
	os.WriteFile(garbage, []byte("{}"), 0o644)
	_, _, berr := tlog.VerifyBundle([]byte("{}"), got.Policy)
	_, err = AuditVerify(AuditVerifyRequest{File: garbage, HomeDir: v.Home.Dir})
	wantErr(t, "garbage bundle", err, garbage+" does not verify: "+berr.Error(), tamperedHint, hint.CodeDamaged)

	_, err = v.AuditExportTo(ctx, AuditExportRequest{})
	wantErr(t, "no output", err, "audit export: no output file", "", hint.CodeUsage)
}

// AuditCheck checks the log and gathers alerts; only a damaged log (not
// an empty one) fails.
func TestAuditCheck(t *testing.T) {
	v, _ := auditVault(t)
	res, err := v.AuditCheck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rd, _ := v.Recorder().Reader()
	cp, _, _ := rd.All(context.Background())
	if !res.OK() || res.Empty() || res.Alerts() || res.Err() != nil || res.Origin != cp.Origin || res.TreeSize != cp.Size {
		t.Fatalf("check %+v", res)
	}
	empty := &AuditCheckResult{CheckErr: tlog.ErrEmpty}
	if !empty.Empty() || empty.OK() || empty.Err() != nil {
		t.Fatalf("empty log: empty %v ok %v err %v", empty.Empty(), empty.OK(), empty.Err())
	}
	damaged := &AuditCheckResult{CheckErr: tlog.ErrInclusion}
	wantErr(t, "damaged", damaged.Err(), "the log is damaged: "+tlog.ErrInclusion.Error(), "", hint.CodeDamaged)
	alerted := &AuditCheckResult{LogAlerts: []tlog.WitnessAlert{{}}}
	if alerted.OK() || !alerted.Alerts() || alerted.Err() != nil {
		t.Fatalf("alerts: ok %v alerts %v err %v", alerted.OK(), alerted.Alerts(), alerted.Err())
	}
}
