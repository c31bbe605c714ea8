package main

import (
	"fmt"
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
	wantLines(t, "init", masked(out, dir, "DIR", realFP, "FINGERPRINT"), lines{
		"Created home hHHHHHHHHHHHHHHHHHHHH in DIR/home",
		rx(`Root key epoch 1 \([0-9a-f]{16}\) split 2-of-3 among the custodians\.`),
		"fingerprint: FINGERPRINT",
		"Give each custodian this fingerprint with their identity: recover, drill and operate need it (--expect-home).",
		"  custodian card: DIR/custodians/custodian-alice.txt",
		"  custodian card: DIR/custodians/custodian-bob.txt",
		"  custodian card: DIR/custodians/custodian-carol.txt",
		"Next: add a storage site, e.g.",
		"  embassy site add lu-1 --url /path/to/site --jurisdiction LU",
	})
	for i, n := range []string{"alice", "bob", "carol"} {
		card := filepath.Join(idDir, "custodian-"+n+".txt")
		if got := cardFingerprint(t, card); got != realFP {
			t.Fatalf("card of %s holds %q, want %q", n, got, realFP)
		}
		b, _ := os.ReadFile(card)
		wantLines(t, "card of "+n, masked(string(b), dir, "DIR", realFP, "FINGERPRINT"), custodianCard(fmt.Sprintf("%s (%d of 3; 2 needed to recover)", n, i+1)))
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
	wantRun(t, "recover from the forged site with the card's fingerprint", r.masked(dir, "DIR", realFP, "FINGERPRINT", host.homeFingerprint(), "FORGED_FP"), 3, nil, lines{
		"embassy: error: site recovered presents home fingerprint FORGED_FP, expected FINGERPRINT: vault fingerprint does not match the pinned one",
		"embassy: hint: this site holds a different or forged vault: do not use it; try another site of the home and tell its operators",
	})
	if _, err := os.Stat(newHome.home); !os.IsNotExist(err) {
		t.Fatal("a refused recover created a home")
	}
	// --expect-home also takes the card file itself.
	card := filepath.Join(idDir, "custodian-alice.txt")
	r = newHome.try(append([]string{"recover", "--site", forged, "--expect-home", card}, ids...)...)
	wantRun(t, "recover from the forged site with the card file", r.masked(dir, "DIR", realFP, "FINGERPRINT", host.homeFingerprint(), "FORGED_FP"), 3, nil, lines{
		"embassy: error: site recovered presents home fingerprint FORGED_FP, expected FINGERPRINT: vault fingerprint does not match the pinned one",
		"embassy: hint: this site holds a different or forged vault: do not use it; try another site of the home and tell its operators",
	})
	out = newHome.run(append([]string{"recover", "--site", filepath.Join(dir, "site-a"), "--expect-home", card}, ids...)...)
	wantLines(t, "recover", masked(out, dir, "DIR", realFP, "FINGERPRINT"), lines{
		"Recovered home hHHHHHHHHHHHHHHHHHHHH into DIR/new-home from site recovered with 2 of 2 needed custodians (DIR/custodians/alice.key, DIR/custodians/bob.key).",
		"fingerprint: FINGERPRINT (vault state 3)",
		"Root key epoch 1; 1 dataset readable. Try 'embassy snapshots' or 'embassy restore DATASET --target DIR'.",
	})
	target := filepath.Join(dir, "restore")
	newHome.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "38501012231,Mari,Tamm\n")
}

// custodianCard is the text of a custodian card, masked: who is the
// custodian line after "custodian: ".
func custodianCard(who string) lines {
	return lines{
		"embassy custodian card v1",
		"custodian: " + who,
		"home: hHHHHHHHHHHHHHHHHHHHH",
		"fingerprint: FINGERPRINT",
		rx(`recipient: age1pq1[0-9a-z]+`),
		"created: YYYY-MM-DDThh:mm:ssZ",
		"",
		"Keep this file with your identity. The fingerprint is the home's: it is",
		"derived from the home id and the home's first signing key, and no one",
		"without the home's keys can make a vault that shows it.",
		"",
		"How to check it: whenever you are asked to rebuild the home (recover, drill,",
		"operate), the command shows the fingerprint of the vault a site presents,",
		"and runs only with the one you pin:",
		"",
		"  embassy --home DIR recover --site SITE --expect-home FINGERPRINT --identity YOUR-IDENTITY ...",
		"",
		"(plan files for drill and operate: 'home: FINGERPRINT'). If a site presents another",
		"fingerprint, it holds a different or forged vault: do not lend your identity",
		"to it, and tell the home's operators. 'embassy key status' at the home",
		"prints the same fingerprint.",
	}
}
