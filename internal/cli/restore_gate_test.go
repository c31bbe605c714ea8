package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLsGateDeniesRead: ls reads a snapshot's trees back without a
// restore, so the gate is asked for read: with restore-within-residency the
// listing of a class held only in LU comes from LU, the denied site CH is
// named with its rule, and with LU's copy gone the listing is refused by
// the rule (exit 1), listing nothing.
func TestLsGateDeniesRead(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "register.bin"), noise(4<<10, 5), 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C2-I1-A1")
	os.WriteFile(filepath.Join(home, "policy.yaml"), []byte("classes:\n  - class: C2-I0-A0\n    jurisdictions: [LU]\n    restore-within-residency: true\n"), 0o644)

	rule := "(residency-restore): C2-I1-A1 data may be held only in LU; site ch is in CH, so its copy is not restored from: restore from a site there, or widen the class rule (or drop restore-within-residency) in policy.yaml"
	expectRun(t, home, ExitOK, []string{"ls", "reg", "--recursive"}, lines{
		rx(`file     -rw-r--r--          4096  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}  register\.bin`),
	}, lines{"embassy: note: site ch denied by policy for read of reg " + rule})
	if err := os.RemoveAll(filepath.Join(dir, "site-lu")); err != nil {
		t.Fatal(err)
	}
	expectRun(t, home, ExitError, []string{"ls", "reg", "--recursive"}, nil, lines{
		siteGone(dir, "lu"),
		"embassy: error: policy denies read of reg " + rule,
		"embassy: hint: see 'embassy policy explain DATASET' for every site's decision",
	})
}
