package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cardFingerprint returns the fingerprint line of a custodian card.
func cardFingerprint(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "fingerprint: "); ok {
			return v
		}
	}
	t.Fatalf("%s has no fingerprint line:\n%s", path, b)
	return ""
}

// Each custodian gets the home fingerprint with their identity at init: a
// card next to the identity file (or in --custodian-out). With the
// fingerprint from that card, recover refuses a vault a host forged with
// the custodians' public recipients and rebuilds the real home.
func TestHostileCustodianCardPinsRecovery(t *testing.T) {
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, home: filepath.Join(dir, "home")}
	idDir := filepath.Join(dir, "custodians")
	os.MkdirAll(idDir, 0o700)
	var recips []string
	args := []string{"init", "--threshold", "2"}
	for _, n := range []string{"alice", "bob", "carol"} {
		p := filepath.Join(idDir, n+".key")
		recips = append(recips, strings.TrimSpace(f.run("custodian", "keygen", "-o", p)))
		args = append(args, "--custodian", p)
	}
	out := f.run(args...)
	f.run("site", "add", "a", "--url", filepath.Join(dir, "site-a"), "--jurisdiction", "LU")
	src := writeSource(t, filepath.Join(dir, "src"), "38501012231,Mari,Tamm\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")

	realFP := f.homeFingerprint()
	for _, n := range []string{"alice", "bob", "carol"} {
		card := filepath.Join(idDir, "custodian-"+n+".txt")
		if !strings.Contains(out, card) {
			t.Fatalf("init does not name the card %s:\n%s", card, out)
		}
		if got := cardFingerprint(t, card); got != realFP {
			t.Fatalf("card of %s holds %q, want %q", n, got, realFP)
		}
		b, _ := os.ReadFile(card)
		if !strings.Contains(string(b), "--expect-home "+realFP) || !strings.Contains(string(b), "custodian: "+n) {
			t.Fatalf("card of %s does not say how to check the home:\n%s", n, b)
		}
	}
	pin := cardFingerprint(t, filepath.Join(idDir, "custodian-alice.txt"))

	// A host's own vault with the same custodians; its cards go to
	// --custodian-out (recipient strings: named by number) and show its
	// own, different fingerprint.
	host := &fixture{t: t, dir: dir, home: filepath.Join(dir, "host-home")}
	hostCards := filepath.Join(dir, "host-cards")
	hargs := []string{"init", "--threshold", "2", "--custodian-out", hostCards}
	for _, r := range recips {
		hargs = append(hargs, "--custodian", r)
	}
	host.run(hargs...)
	forged := filepath.Join(dir, "site-forged")
	host.run("site", "add", "forged", "--url", forged, "--jurisdiction", "LU")
	host.run("snapshot", "registry", writeSource(t, filepath.Join(dir, "fake"), "forged register\n"), "--class", "C1-I1-A1")
	if fp := cardFingerprint(t, filepath.Join(hostCards, "custodian-1.txt")); fp == realFP || fp != host.homeFingerprint() {
		t.Fatalf("the host's card holds %q (real %q)", fp, realFP)
	}

	ids := []string{"--identity", filepath.Join(idDir, "alice.key"), "--identity", filepath.Join(idDir, "bob.key")}
	newHome := &fixture{t: t, dir: dir, home: filepath.Join(dir, "new-home")}
	r := newHome.try(append([]string{"recover", "--site", forged, "--expect-home", pin}, ids...)...)
	if r.code != 3 || !strings.Contains(r.stderr, "forged") || !strings.Contains(r.stderr, realFP) {
		t.Fatalf("recover from the forged site with the card's fingerprint: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(newHome.home); !os.IsNotExist(err) {
		t.Fatal("a refused recover created a home")
	}
	out = newHome.run(append([]string{"recover", "--site", filepath.Join(dir, "site-a"), "--expect-home", pin}, ids...)...)
	if !strings.Contains(out, "fingerprint: "+realFP) {
		t.Fatalf("recover output:\n%s", out)
	}
	target := filepath.Join(dir, "restore")
	newHome.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "38501012231,Mari,Tamm\n")
}
