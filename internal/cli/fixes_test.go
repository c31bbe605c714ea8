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
