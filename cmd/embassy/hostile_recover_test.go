package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Attack 2: the host builds its own vault with the real custodians' public
// recipients (they are in the epoch record at its site) and presents it to
// a recovering operator, hoping to become the recovered home's root.
func TestHostileForgedVaultOnRecovery(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "38501012231,Mari,Tamm\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	realFP := f.homeFingerprint()
	_, recipients := epochRecord(t, filepath.Join(f.dir, "site-a"), "00000001")

	// The host's own vault, with the real custodians as its custodians.
	host := &fixture{t: t, dir: f.dir, home: filepath.Join(f.dir, "host-home")}
	args := []string{"init", "--threshold", "2"}
	for _, r := range recipients {
		args = append(args, "--custodian", r)
	}
	host.run(args...)
	forged := filepath.Join(f.dir, "site-forged")
	host.run("site", "add", "forged", "--url", forged, "--jurisdiction", "LU")
	fake := writeSource(t, filepath.Join(f.dir, "fake"), "forged register\n")
	host.run("snapshot", "registry", fake, "--class", "C1-I1-A1")
	forgedFP := host.homeFingerprint()
	if forgedFP == realFP {
		t.Fatal("forged vault has the real fingerprint")
	}

	ids := []string{"--identity", filepath.Join(f.dir, "c0.key"), "--identity", filepath.Join(f.dir, "c1.key")}
	newHome := &fixture{t: t, dir: f.dir, home: filepath.Join(f.dir, "new-home")}
	// No pin: refused (exit 4), showing what the site presents.
	r := newHome.try(append([]string{"recover", "--site", forged}, ids...)...)
	if r.code != 4 || !strings.Contains(r.stderr, forgedFP) || !strings.Contains(r.stderr, "--expect-home") {
		t.Fatalf("unpinned recover from the forged site: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(newHome.home); !os.IsNotExist(err) {
		t.Fatal("an unpinned recover created a home")
	}
	// The custodians' fingerprint: the forged vault is refused (exit 3).
	r = newHome.try(append([]string{"recover", "--site", forged, "--expect-home", realFP}, ids...)...)
	if r.code != 3 || !strings.Contains(r.stderr, "forged") || !strings.Contains(r.stderr, realFP) {
		t.Fatalf("pinned recover from the forged site: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(newHome.home); !os.IsNotExist(err) {
		t.Fatal("a refused recover created a home")
	}
	// The real site with the pin: the real data comes back.
	out := newHome.run(append([]string{"recover", "--site", filepath.Join(f.dir, "site-b"), "--expect-home", strings.ToUpper(realFP)}, ids...)...)
	if !strings.Contains(out, "fingerprint: "+realFP) {
		t.Fatalf("recover output:\n%s", out)
	}
	target := filepath.Join(f.dir, "restore")
	newHome.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "38501012231,Mari,Tamm\n")
}
