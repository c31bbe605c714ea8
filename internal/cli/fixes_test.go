package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With every site gone, a snapshot without --class is still decided under
// the dataset's class (read from the home's log, since no site returns
// the manifests): the policy's class warnings name C3-I3-A3 and the error
// is the sites', not "policy denies snapshot of ds (unlabelled)".
func TestSnapshotEverySiteGoneKeepsClass(t *testing.T) {
	t.Parallel() // own temp home and sites
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("hello"), 0o644)
	mustRun(t, home, "snapshot", "ds", src, "--class", "C3-I3-A3")
	os.RemoveAll(filepath.Join(dir, "site-ch"))
	os.RemoveAll(filepath.Join(dir, "site-lu"))
	r := run(t, home, "", "snapshot", "ds", src)
	got := strings.ReplaceAll(r.stderr, dir, "DIR")
	if i := strings.Index(got, "upload pack: write data/"); i > 0 {
		j := strings.Index(got[i:], " failed at every site")
		got = got[:i] + "upload pack: write PACK" + got[i+j:]
	}
	want := `embassy: warning: site lu is unavailable: site directory DIR/site-lu does not exist: create it or check the path
embassy: warning: site ch is unavailable: site directory DIR/site-ch does not exist: create it or check the path
embassy: warning: dataset ds is of integrity level I3, which needs a log witness outside the home: the log policy's quorum can be met by the home's own witnesses alone: it names no witness outside the home; add a host site's witness with 'embassy witness add NAME VKEY URL'
embassy: warning: policy: C3-I3-A3 data needs 2 copies at sites; 0 available (class rule min-copies in policy.yaml)
embassy: warning: policy: C3-I3-A3 data is critical and needs copies in 2 jurisdictions; only 0 ([]): add a site in another jurisdiction (class rule min-jurisdictions in policy.yaml)
embassy: error: nothing saved: upload pack: write PACK failed at every site: site lu: site directory DIR/site-lu does not exist: create it or check the path
site ch: site directory DIR/site-ch does not exist: create it or check the path
embassy: hint: check 'embassy site list' and the sites' reachability
`
	if r.code != 1 || r.stdout != "" || got != want {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 1, stderr:\n%s", r.code, r.stdout, got, want)
	}
}

// A disclosure with a bad argument is refused before anything is logged:
// exit 2, the refusal only (no "Logged disclosure N"), no disclosure entry.
func TestDiscloseBadArgumentLogsNothing(t *testing.T) {
	t.Parallel() // own temp home and sites
	_, home, _ := setup(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--reason", "THIRD_PARTY_DATA_REQUEST", "--access", "legal-demand", "--who", "court", "--what", "y", "--dataset", "nosuch"},
			"embassy: error: disclosure --dataset nosuch: the home holds no dataset named \"nosuch\"\nembassy: hint: see 'embassy ls' for the datasets, or leave --dataset out for all data at the site\n"},
		{[]string{"--reason", "NOPE", "--who", "x", "--what", "y"},
			"embassy: error: disclosure reason \"NOPE\": use one of EMERGENCY_BREAK_GLASS, HOME_INITIATED_ACCESS, HOME_INITIATED_SUPPORT, HOST_INITIATED_REVIEW, HOST_INITIATED_SERVICE, HOST_INITIATED_SYSTEM_OPERATION, REASON_NOT_EXPECTED, RESPONSE_TO_PRODUCTION_ALERT, THIRD_PARTY_DATA_REQUEST\nembassy: hint: see 'embassy help' or add --help to the command\n"},
	} {
		r := run(t, home, "", append([]string{"disclose", "--site", "lu"}, tc.args...)...)
		if r.code != 2 || r.stdout != "" || r.stderr != tc.want {
			t.Errorf("disclose %q: exit %d, stdout %q, stderr %q; want exit 2, stderr %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
	if out := mustRun(t, home, "log", "--kind", "disclosure", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("disclosures logged after refused arguments: %s", out)
	}
}
