package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/broker/verifiers"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/supply"
)

// The update-control service: approvals are signed for this home and
// epoch, stored and verified on every read; attested-release classes need
// an approval covering the measurements; a revocation takes effect at once;
// an altered approval file is refused.
func TestUpdateControl(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	fw := map[string]string{"pcr.sha256.0": strings.Repeat("a0", 32)}
	for _, tc := range []struct {
		class string
		want  bool
	}{{"C3-I0-A0", true}, {"C3-I3-A3", true}, {"C1-I1-A1", false}, {"internal", false}, {"", true}, {"not a class", true}} {
		if got := v.UpdateControlRequired(tc.class); got != tc.want {
			t.Errorf("class %q: update control required %v, want %v", tc.class, got, tc.want)
		}
	}
	if err := v.CheckReleaseMeasurements("C3-I0-A0", fw); err == nil || !strings.Contains(err.Error(), "no update approval covers") {
		t.Fatalf("no approval: %v", err)
	}
	if err := v.CheckReleaseMeasurements("C1-I1-A1", fw); err != nil {
		t.Fatalf("a class without update control: %v", err)
	}
	s, err := v.ApproveUpdate(ctx, UpdateApproval{Artifact: "lu-firmware", Measurements: fw, Until: testNow.Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Home != v.Repo.Fingerprint() || s.Epoch != v.Repo.CurrentEpoch().Epoch || !s.Issued.Equal(testNow) {
		t.Fatalf("approval not bound to this home, epoch and time: %+v", s.Approval)
	}
	if err := v.CheckReleaseMeasurements("C3-I0-A0", map[string]string{"pcr.sha256.0": fw["pcr.sha256.0"], "pcr.sha256.9": "99"}); err != nil {
		t.Fatalf("covered measurements: %v", err)
	}
	other := map[string]string{"pcr.sha256.0": strings.Repeat("b0", 32)}
	if err := v.CheckReleaseMeasurements("C3-I0-A0", other); err == nil || !strings.Contains(err.Error(), "unapproved firmware or image update") {
		t.Fatalf("changed firmware: %v", err)
	}
	if err := v.RevokeUpdate(ctx, s.ID, "recalled"); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckReleaseMeasurements("C3-I0-A0", fw); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked approval: %v", err)
	}
	if err := v.RevokeUpdate(ctx, "u0123456789abcdef", ""); err == nil || !strings.Contains(err.Error(), "update list") {
		t.Fatalf("unknown approval revoked: %v", err)
	}

	// Refused requests, each with its reason.
	bin := filepath.Join(t.TempDir(), "embassyd")
	os.WriteFile(bin, []byte("build 1"), 0o755)
	sbom := filepath.Join(t.TempDir(), "sbom.json")
	os.WriteFile(sbom, []byte(`{"bomFormat":"CycloneDX","metadata":{"component":{"hashes":[{"alg":"SHA-256","content":"`+strings.Repeat("0", 64)+`"}]}}}`), 0o644)
	for _, tc := range []struct {
		name string
		rq   UpdateApproval
		want string
	}{
		{"past end", UpdateApproval{Artifact: "embassyd", Binary: bin, Until: testNow.Add(-time.Hour)}, "not in the future"},
		{"digest is not the file's", UpdateApproval{Artifact: "embassyd", Binary: bin, Digest: strings.Repeat("1", 64), Until: testNow.Add(time.Hour)}, "is not the SHA-256"},
		{"SBOM of another build", UpdateApproval{Artifact: "embassyd", Binary: bin, SBOM: sbom, Until: testNow.Add(time.Hour)}, "describes another build"},
		{"nothing named", UpdateApproval{Artifact: "embassyd", Until: testNow.Add(time.Hour)}, "name a digest"},
	} {
		if _, err := v.ApproveUpdate(ctx, tc.rq); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}

	// An approval edited in the home folder (validity stretched) is refused.
	p := filepath.Join(UpdatesDir(v.Home), "approved", s.ID+".json")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), s.NotAfter.Format(time.RFC3339), "2099-01-01T00:00:00Z", 1)), 0o644)
	if _, err := v.Updates(); err == nil || !strings.Contains(err.Error(), s.ID+".json") || !strings.Contains(err.Error(), "signature does not verify") {
		t.Fatalf("edited approval: %v", err)
	}
	if err := v.CheckReleaseMeasurements("C3-I0-A0", fw); err == nil || !strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("release with an unreadable approval folder: %v", err)
	}
}

// BinarySBOM reads a real Go binary: this test binary.
func TestBinarySBOM(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, b, err := BinarySBOM(exe, "embassy-test", supply.FormatCycloneDX, testNow)
	if err != nil {
		t.Fatal(err)
	}
	d, _, _ := FileDigest(exe)
	if b.Digest != d || b.Info == nil || b.Info.GoVersion == "" || !strings.Contains(string(out), d) || !strings.Contains(string(out), `"specVersion": "1.6"`) {
		t.Fatalf("SBOM of the test binary: digest %s (file %s)\n%.400s", b.Digest, d, out)
	}
	notGo := filepath.Join(t.TempDir(), "script.sh")
	os.WriteFile(notGo, []byte("#!/bin/sh\n"), 0o755)
	if _, _, err := BinarySBOM(notGo, "", supply.FormatSPDX, testNow); err == nil || !strings.Contains(err.Error(), "script.sh") || !strings.Contains(err.Error(), "could not read Go build info") {
		t.Fatalf("not a Go binary: %v", err)
	}
}

// BenchmarkCheckReleaseMeasurements is the broker's added cost per release
// of an attested-release class with ten approvals on file (each read and
// verified on every release, so a revocation applies to the next one).
func BenchmarkCheckReleaseMeasurements(b *testing.B) {
	ms := &memSites{}
	o := Options{Clock: func() time.Time { return testNow }, OpenSite: ms.open}
	var recs []string
	for range 2 {
		_, rec, err := keys.GenerateIdentity(false)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
	}
	v, err := Init(context.Background(), InitRequest{Dir: filepath.Join(b.TempDir(), "home"), Config: home.Default(), Custodians: recs, Threshold: 2}, o)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	if _, err := v.OpenRepo(context.Background(), true); err != nil {
		b.Fatal(err)
	}
	var m map[string]string
	for i := range 10 {
		m = map[string]string{"pcr.sha256.0": fmt.Sprintf("%064x", i)}
		if _, err := v.ApproveUpdate(context.Background(), UpdateApproval{Artifact: "fw", Measurements: m, Until: testNow.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := v.CheckReleaseMeasurements("C3-I0-A0", m); err != nil {
			b.Fatal(err)
		}
	}
}

// Recorded SEV-SNP evidence (internal/attest/testdata) through the broker's
// verifiers: its launch measurement is what an approval must name. An
// approval of another launch measurement does not cover it.
func TestUpdateControlRecordedSNP(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "attest", "testdata", "snp", "test-report.bin"))
	if err != nil {
		t.Fatal(err)
	}
	vcek, err := os.ReadFile(filepath.Join("..", "attest", "testdata", "snp", "test-vcek.der"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := attest.MarshalEnvelope(attest.Evidence{TEE: attest.SNP, Raw: raw, Certs: vcek})
	if err != nil {
		t.Fatal(err)
	}
	c, err := verifiers.Verifiers{}.Verify("envelope", env, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	launch := c.Measurements["snp.measurement"]
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	other := strings.Repeat("0", len(launch))
	if _, err := v.ApproveUpdate(ctx, UpdateApproval{Artifact: "lu-cvm-image", Measurements: map[string]string{"snp.measurement": other}, Until: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckReleaseMeasurements("C3-I0-A0", c.Measurements); err == nil || !strings.Contains(err.Error(), "snp.measurement is "+launch[:16]) {
		t.Fatalf("unapproved launch measurement: %v", err)
	}
	if _, err := v.ApproveUpdate(ctx, UpdateApproval{Artifact: "lu-cvm-image", Measurements: map[string]string{"snp.measurement": launch}, Until: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckReleaseMeasurements("C3-I0-A0", c.Measurements); err != nil {
		t.Fatalf("approved launch measurement: %v", err)
	}
}
