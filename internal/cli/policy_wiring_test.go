package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// siteDatasets returns the dataset ids whose packs a folder site holds.
func siteDatasets(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i, part := range parts {
			if (part == "data" || part == "packs") && i+1 < len(parts)-1 {
				out[parts[i+1]] = true
			}
		}
		return nil
	})
	return out
}

// policyDenials returns the policy-denied entries of the transparency log.
func policyDenials(t *testing.T, home string) []tlog.Indexed {
	t.Helper()
	var ents []tlog.Indexed
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "log")), &ents); err != nil {
		t.Fatal(err)
	}
	var out []tlog.Indexed
	for _, x := range ents {
		if x.Kind == tlog.KindPolicyChange && x.Details["event"] == "policy-denied" {
			out = append(out, x)
		}
	}
	return out
}

func hasDenial(ents []tlog.Indexed, action, site, rule string) bool {
	for _, x := range ents {
		if x.Details["action"] == action && (site == "" || x.Site == site) && strings.Contains(x.Details["rules"], rule) {
			return true
		}
	}
	return false
}

func TestPolicySiteAddSkipsDeniedDataset(t *testing.T) {
	dir, home, _ := setup(t)
	os.WriteFile(filepath.Join(home, policy.SettingsFile), []byte("classes:\n  - class: C2-I0-A0\n    jurisdictions: [LU, CH]\n"), 0o644)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), bytes.Repeat([]byte("register row\n"), 500), 0o644)
	mustRun(t, home, "snapshot", "secret-ds", src, "--class", "C2-I1-A1")
	mustRun(t, home, "snapshot", "open-ds", src, "--class", "C0-I0-A0")

	r := run(t, home, "", "site", "add", "fi", "--url", filepath.Join(dir, "site-fi"), "--jurisdiction", "FI")
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "dataset secret-ds not copied to site fi") || !strings.Contains(r.stderr, "may be held only in LU, CH") {
		t.Fatalf("site add: exit %d, want %d with a warning\n%s", r.code, ExitDamaged, r.stderr)
	}
	lu, fi := siteDatasets(t, filepath.Join(dir, "site-lu")), siteDatasets(t, filepath.Join(dir, "site-fi"))
	if len(lu) != 2 || len(fi) != 1 {
		t.Fatalf("datasets with packs: lu %v, fi %v; want 2 and 1", lu, fi)
	}
	// catching up does not copy the denied dataset either
	if got := run(t, home, "", "site", "sync"); got.code == ExitError || !strings.Contains(got.stdout, "copied 0 objects") {
		t.Fatalf("site sync copied the denied dataset: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	if fi2 := siteDatasets(t, filepath.Join(dir, "site-fi")); len(fi2) != 1 {
		t.Fatalf("after sync fi holds %v", fi2)
	}
	if !hasDenial(policyDenials(t, home), "replicate", "fi", "residency-class") {
		t.Fatal("no replicate denial in the log")
	}
	// a snapshot skips fi for secret-ds too, and says it was denied (not failed)
	r = run(t, home, "", "snapshot", "secret-ds", src)
	if r.code != ExitOK || !strings.Contains(r.stderr, "site fi denied by policy for write of secret-ds (residency-class)") {
		t.Fatalf("snapshot: exit %d\n%s", r.code, r.stderr)
	}
	if !hasDenial(policyDenials(t, home), "write", "fi", "residency-class") {
		t.Fatal("no write denial in the log")
	}
}

func TestPolicyProtectRefusesUnlabelled(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(home, "protect.yaml"), fmt.Appendf(nil,
		"datasets:\n  - name: nolabel\n    source: {type: dir, path: %s}\n    rpo: 1h\n  - name: labelled\n    source: {type: dir, path: %s}\n    rpo: 1h\n    class: C1-I1-A1\n", src, src), 0o644)
	r := run(t, home, "", "protect", "--once")
	if r.code == 0 || !strings.Contains(r.stderr, "policy denies snapshot of nolabel") || !strings.Contains(r.stderr, "no classification label") {
		t.Fatalf("protect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "of labelled saved") {
		t.Fatalf("the labelled dataset was not protected:\n%s", r.stdout)
	}
	// the denial of one dataset does not keep the sites from the next
	if strings.Contains(r.stderr, "failed and was skipped") {
		t.Fatalf("a site stayed excluded after the denied dataset:\n%s", r.stderr)
	}
	if !hasDenial(policyDenials(t, home), "write", "lu", "unlabelled") {
		t.Fatal("no write denial in the log")
	}
}

func TestPolicyCopiesRequired(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(home, policy.SettingsFile), []byte(`classes:
  - class: C0-I0-A3
    min-copies: 2
    min-jurisdictions: 3
    require-copies: true
  - class: C1-I0-A0
    erasure: "2+1"
`), 0o644)
	r := run(t, home, "", "snapshot", "critical", src, "--class", "C0-I0-A3")
	if r.code != ExitError || !strings.Contains(r.stderr, "policy refuses snapshot of critical") || !strings.Contains(r.stderr, "class rule min-jurisdictions") {
		t.Fatalf("snapshot: exit %d\n%s", r.code, r.stderr)
	}
	if !hasDenial(policyDenials(t, home), "write", "", "min-jurisdictions") {
		t.Fatal("no refusal in the log")
	}
	r = run(t, home, "", "snapshot", "coded", src, "--class", "C1-I0-A0")
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "erasure code 2+1") || !strings.Contains(r.stderr, "erasure:2+1?members=") {
		t.Fatalf("snapshot: exit %d\n%s", r.code, r.stderr)
	}
}

func TestPolicyDisclosure(t *testing.T) {
	_, home, _ := setup(t)
	base := []string{"disclose", "--site", "lu", "--reason", "THIRD_PARTY_DATA_REQUEST", "--access", "legal-demand", "--who", "court", "--what", "ciphertext"}
	r := run(t, home, "", base...)
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "needs the sending state's prior approval") {
		t.Fatalf("disclose: exit %d\n%s", r.code, r.stderr)
	}
	mustRun(t, home, append(base, "--approved", "MFA-2026-17")...)
	// host maintenance needs no approval
	mustRun(t, home, "disclose", "--site", "lu", "--reason", "HOST_INITIATED_SERVICE", "--access", "physical", "--who", "tech", "--what", "psu")
	// support access needs it under the baseline's support-access: prior-approval
	r = run(t, home, "", "disclose", "--site", "lu", "--reason", "HOST_INITIATED_SERVICE", "--access", "support", "--who", "tech", "--what", "db")
	if r.code != ExitDamaged {
		t.Fatalf("support access: exit %d\n%s", r.code, r.stderr)
	}
	n := 0
	for _, x := range policyDenials(t, home) {
		if x.Details["action"] == "disclose" && x.Site == "lu" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d disclose denials in the log, want 2", n)
	}
}

func TestPolicyRestoreGate(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("restore me"), 0o644)
	mustRun(t, home, "snapshot", "ds", src, "--class", "C1-I1-A1")
	// no rule denies a restore today: it is asked, allowed, and reads the sites
	mustRun(t, home, "restore", "ds", "--target", filepath.Join(dir, "out"))
	if b, _ := os.ReadFile(filepath.Join(dir, "out", "a.txt")); string(b) != "restore me" {
		t.Fatalf("restored %q", b)
	}
	// a denied site is failed and closed, so it is neither written nor read
	s := &repo.Site{Name: "lu"}
	denySite(s, policy.Decision{Reasons: []string{"because"}})
	if s.Backend != nil || !vault.IsDenied(s.Err()) || !strings.Contains(s.Err().Error(), "because") {
		t.Fatalf("denied site: backend %v, err %v", s.Backend, s.Err())
	}
	if err := denyError("restore of ds", policy.Decision{Reasons: []string{"because"}}); !strings.Contains(err.Error(), "policy denies restore of ds: because") {
		t.Fatal(err)
	}
}
