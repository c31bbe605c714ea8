package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/vault"
)

var updateExamples = flag.Bool("update", false, "rewrite the generated files in examples/ and testdata/")

const examplesDir = "../../examples"

// demoKey writes a deterministic demo signing key (examples only) and
// returns its file and public key.
func demoKey(t *testing.T, dir, role string) (string, string) {
	seed := sha256.Sum256([]byte("embassy demo agreement key " + role))
	sk := ed25519.NewKeyFromSeed(seed[:])
	pub := agreement.FormatPublicKey(sk.Public().(ed25519.PublicKey))
	file := fmt.Sprintf("# DEMO KEY for examples only: its seed is public. Never use it for a real agreement.\n# public key: %s\nEMBASSY-AGREEMENT-KEY-1:%s\n", pub, base64.StdEncoding.EncodeToString(seed[:]))
	p := filepath.Join(dir, role+".demo.key")
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, pub
}

// checkGenerated compares got with a generated file under examples/.
func checkGenerated(t *testing.T, rel string, got []byte) {
	t.Helper()
	p := filepath.Join(examplesDir, rel)
	if *updateExamples {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run TestAgreementExamples -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s is stale (-want +got):\n%s", rel, d)
	}
}

// TestAgreementExamples signs the example agreements with demo keys,
// installs them in a home with sites under each, and produces the
// scorecards checked in under examples/scorecards.
func TestAgreementExamples(t *testing.T) {
	t.Setenv("EMBASSY_NOW", "2026-06-01")
	dir, homeDir, _ := setup(t)
	keyDir := t.TempDir()
	if *updateExamples {
		keyDir = filepath.Join(examplesDir, "agreements", "keys")
	}
	sKey, sPub := demoKey(t, keyDir, "sending")
	hKey, hPub := demoKey(t, keyDir, "host")
	signed := map[string]string{}
	for _, name := range []string{"ee-lu", "mc-lu", "noncompliant"} {
		src, err := os.ReadFile(filepath.Join(examplesDir, "agreements", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		doc := strings.Replace(strings.Replace(string(src), "SENDING_KEY", sPub, 1), "HOST_KEY", hPub, 1)
		p := filepath.Join(dir, name+".signed.yaml")
		os.WriteFile(p, []byte(doc), 0o644)
		r := run(t, homeDir, "", "agreement", "verify", p)
		if missing := []string{"embassy: error: " + p + " is not acceptable:",
			"signatures.sending: missing: unsigned agreements are refused; the sending state signs with 'embassy agreement sign FILE --key KEY --role sending'",
			"signatures.host: missing: unsigned agreements are refused; the host state signs with 'embassy agreement sign FILE --key KEY --role host'",
			verifyHint}; r.code != ExitError || !hasLines(r.stderr, missing...) {
			t.Fatalf("unsigned %s: exit %d, want %d and the lines\n%s\n%s", name, r.code, ExitError, strings.Join(missing, "\n"), r.stderr)
		}
		mustRun(t, homeDir, "agreement", "sign", p, "--key", sKey, "--role", "sending")
		mustRun(t, homeDir, "agreement", "sign", p, "--key", hKey, "--role", "host")
		b, _ := os.ReadFile(p)
		checkGenerated(t, filepath.Join("agreements", name+".signed.yaml"), b)
		signed[name] = p
	}
	// Verify: the good ones pass, the non-compliant one is refused term by term.
	mustRun(t, homeDir, "agreement", "verify", signed["ee-lu"])
	r := run(t, homeDir, "", "agreement", "verify", signed["noncompliant"])
	if terms := []string{"embassy: error: " + signed["noncompliant"] + " is not acceptable:",
		"line 17: political.instrument: mou loosens the baseline executive-agreement (earlier is stricter: treaty < executive-agreement < mou): tighten it, or have the sending state sign an override with 'embassy agreement sign --override political.instrument --reason TEXT'",
		"line 36: operations.disclosure-delay-hours: 720 loosens the baseline 24 (lower is stricter): tighten it, or have the sending state sign an override with 'embassy agreement sign --override operations.disclosure-delay-hours --reason TEXT'",
		verifyHint}; r.code != ExitError || !hasLines(r.stderr, terms...) {
		t.Errorf("verify noncompliant: exit %d, want %d and the lines\n%s\n%s", r.code, ExitError, strings.Join(terms, "\n"), r.stderr)
	}
	// An altered text no longer verifies.
	b, _ := os.ReadFile(signed["ee-lu"])
	altered := filepath.Join(dir, "altered.yaml")
	os.WriteFile(altered, []byte(strings.Replace(string(b), "export-days: 30", "export-days: 20", 1)), 0o644)
	r = run(t, homeDir, "", "agreement", "verify", altered)
	if want := "embassy: error: " + altered + " is not acceptable:\n" +
		"line 56: signatures.sending: does not verify: the agreement was altered after signing, or signed with another key\n" +
		"line 57: signatures.host: does not verify: the agreement was altered after signing, or signed with another key\n" + verifyHint + "\n"; r.code != ExitError || r.stderr != want {
		t.Errorf("altered: exit %d, want %d\n%s\nwant:\n%s", r.code, ExitError, r.stderr, want)
	}
	// Install, with sites under each agreement, and policy settings.
	mustRun(t, homeDir, "agreement", "add", signed["ee-lu"])
	mustRun(t, homeDir, "agreement", "add", signed["mc-lu"])
	if r := run(t, homeDir, "", "agreement", "add", signed["noncompliant"]); r.code != 1 {
		t.Errorf("noncompliant installed: %s", r.stderr)
	}
	os.WriteFile(filepath.Join(homeDir, policy.SettingsFile), []byte("home-state: EE\nhome-location: 59.437,24.7536\n"), 0o600)
	mustRun(t, homeDir, "site", "add", "lu-bettembourg", "--url", filepath.Join(dir, "site-lu-ee"), "--jurisdiction", "LU", "--agreement", "ee-lu", "--location", "49.52,6.10", "--tier", "4")
	mustRun(t, homeDir, "site", "add", "lu-contern", "--url", filepath.Join(dir, "site-lu-mc"), "--jurisdiction", "LU", "--agreement", "mc-lu", "--location", "49.58,6.22", "--tier", "3")
	mustRun(t, homeDir, "site", "add", "us-east", "--url", filepath.Join(dir, "site-us"), "--jurisdiction", "US", "--agreement", "xx-cloud", "--location", "38.9,-77.0")
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "register.csv"), []byte(strings.Repeat("38501012231,Mari,Tamm,Tallinn\n", 2000)), 0o644)
	// The US site is under an agreement that is not installed: policy skips
	// it (reported as denied, not failed: exit 0), the others take the data.
	for _, args := range [][]string{{"population-register", "C2-I3-A3"}, {"state-archive", "secret"}} {
		r := run(t, homeDir, "", "snapshot", args[0], src, "--class", args[1])
		note := "embassy: note: site us-east denied by policy for write of " + args[0] + " (agreement-unknown): site us-east names agreement xx-cloud, which is not installed: install it with 'embassy agreement add FILE'"
		if r.code != ExitOK || !hasLines(r.stderr, note) {
			t.Fatalf("snapshot %s: exit %d, want %d and the line\n%s\n%s", args[0], r.code, ExitOK, note, r.stderr)
		}
	}

	list := mustRun(t, homeDir, "--json", "agreement", "list")
	var rows []struct {
		ID    string
		Sites []string
	}
	if err := json.Unmarshal([]byte(list), &rows); err != nil || len(rows) != 2 || rows[0].ID != "ee-lu" || rows[0].Sites[0] != "lu-bettembourg" {
		t.Fatalf("list: %s %v", list, err)
	}
	// Disclosure deadlines come from each site's agreement (mc-lu: 12 h),
	// the fallback for sites with none installed.
	hm, err := home.Open(homeDir)
	if err != nil {
		t.Fatal(err)
	}
	deadline, err := vault.DisclosureDeadlines(hm, 99*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for site, want := range map[string]time.Duration{"lu-bettembourg": 24 * time.Hour, "lu-contern": 12 * time.Hour, "us-east": 99 * time.Hour, "lu": 99 * time.Hour} {
		if got := deadline(site); got != want {
			t.Errorf("disclosure deadline at %s: %s, want %s", site, got, want)
		}
	}
	// Explain: the US site is under an expired, uninstalled agreement.
	r = run(t, homeDir, "", "--json", "policy", "explain", "state-archive")
	var p policy.Placement
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("explain: %v %s %s", err, r.stdout, r.stderr)
	}
	if d := cmp.Diff([]string{"lu", "ch", "lu-bettembourg"}, p.Allowed()); d != "" {
		t.Errorf("explain state-archive (-want +got):\n%s\n%s", d, r.stdout)
	}
	// Key material left at the non-compliant host is found by the scan.
	os.WriteFile(filepath.Join(dir, "site-us", "keys", "root-00000001.key"), []byte(`{"format":"embassy-root/v1","scalar":"c2VjcmV0"}`), 0o600)
	// Scorecards.
	for _, name := range []string{"ee-lu", "mc-lu", "noncompliant"} {
		arg := name
		if name == "noncompliant" {
			arg = signed[name]
		}
		html := filepath.Join(dir, name+".html")
		r := run(t, homeDir, "", "assess", arg, "--html", html)
		if r.code != 0 && r.code != 3 {
			t.Fatalf("assess %s: %d %s", name, r.code, r.stderr)
		}
		checkGenerated(t, filepath.Join("scorecards", name+".txt"), []byte(r.stdout))
		hb, _ := os.ReadFile(html)
		checkGenerated(t, filepath.Join("scorecards", name+".html"), hb)
	}
	js := mustRunCode(t, homeDir, 3, "--json", "assess", signed["noncompliant"])
	checkGenerated(t, filepath.Join("scorecards", "noncompliant.json"), []byte(js))
}

const verifyHint = "embassy: hint: fix the terms named above; after any change both parties sign again"

// hasLines reports whether out holds each of want as a whole line.
func hasLines(out string, want ...string) bool {
	lines := strings.Split(out, "\n")
	for _, w := range want {
		if !slices.Contains(lines, w) {
			return false
		}
	}
	return true
}

func mustRunCode(t *testing.T, homeDir string, code int, args ...string) string {
	t.Helper()
	r := run(t, homeDir, "", args...)
	if r.code != code {
		t.Fatalf("embassy %v: exit %d, want %d\n%s", args, r.code, code, r.stderr)
	}
	return r.stdout
}

// TestCheckPolicy exercises the hook the snapshot, restore and site add
// commands call.
func TestCheckPolicy(t *testing.T) {
	dir := t.TempDir()
	h := &home.Home{Dir: dir, Config: home.Config{HomeLocation: "59.437,24.7536", Sites: []home.SiteConfig{
		{Name: "near", Jurisdiction: "EE", Location: "59.3,24.5"}, {Name: "far", Jurisdiction: "LU", Location: "49.6,6.1"}}}}
	e := &env{ctx: context.Background(), stdout: io.Discard, stderr: io.Discard}
	for _, tc := range []struct {
		ds    policy.Dataset
		site  int
		allow bool
		rule  string
	}{
		{policy.Dataset{Name: "x"}, 1, false, "unlabelled"},
		{policy.Dataset{Name: "x", Class: "C2-I3-A3"}, 1, true, ""},
		{policy.Dataset{Name: "x", Class: "C2-I3-A3"}, 0, false, "recovery-distance"},
	} {
		req := policy.Request{Action: policy.Write, Dataset: tc.ds, Site: e.policySiteFor(h, h.Config.Sites[tc.site])}
		d, err := e.checkPolicy(h, req)
		if err != nil || d.Allow != tc.allow || (tc.rule != "" && (len(d.Rules) != 1 || d.Rules[0] != tc.rule)) {
			t.Errorf("%v at %s: %+v %v", tc.ds, h.Config.Sites[tc.site].Name, d, err)
		}
	}
}
