package main

import (
	"encoding/json"
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
	// The host's own vault, with the real custodians as its custodians.
	realFP, forged, host := forgedVault(t, f, "38501012231,Mari,Tamm\n", "forged register\n")
	forgedFP := host.homeFingerprint()
	if forgedFP == realFP {
		t.Fatal("forged vault has the real fingerprint")
	}

	ids := []string{"--identity", filepath.Join(f.dir, "c0.key"), "--identity", filepath.Join(f.dir, "c1.key")}
	newHome := &fixture{t: t, dir: f.dir, home: filepath.Join(f.dir, "new-home")}
	// No pin: refused (exit 4), showing what the site presents.
	r := newHome.try(append([]string{"recover", "--site", forged}, ids...)...)
	wantRun(t, "unpinned recover from the forged site", r.masked(f.dir, "DIR", realFP, "FINGERPRINT", forgedFP, "FORGED_FP"), 4, nil, lines{
		"embassy: error: site recovered presents home fingerprint FORGED_FP: no home fingerprint pinned",
		"embassy: hint: check it against the fingerprint the custodians were given at 'embassy init'; if it matches, re-run with --expect-home FORGED_FP (plan files: 'home: FORGED_FP')",
	})
	if _, err := os.Stat(newHome.home); !os.IsNotExist(err) {
		t.Fatal("an unpinned recover created a home")
	}
	// The custodians' fingerprint: the forged vault is refused (exit 3).
	r = newHome.try(append([]string{"recover", "--site", forged, "--expect-home", realFP}, ids...)...)
	wantRun(t, "pinned recover from the forged site", r.masked(f.dir, "DIR", realFP, "FINGERPRINT", forgedFP, "FORGED_FP"), 3, nil, lines{
		"embassy: error: site recovered presents home fingerprint FORGED_FP, expected FINGERPRINT: vault fingerprint does not match the pinned one",
		"embassy: hint: this site holds a different or forged vault: do not use it; try another site of the home and tell its operators",
	})
	if _, err := os.Stat(newHome.home); !os.IsNotExist(err) {
		t.Fatal("a refused recover created a home")
	}
	// The real site with the pin: the real data comes back.
	out := newHome.run(append([]string{"recover", "--site", filepath.Join(f.dir, "site-b"), "--expect-home", strings.ToUpper(realFP)}, ids...)...)
	wantLines(t, "recover", masked(out, f.dir, "DIR", realFP, "FINGERPRINT"), lines{
		"Recovered home hHHHHHHHHHHHHHHHHHHHH into DIR/new-home from site recovered with 2 of 2 needed custodians (DIR/c0.key, DIR/c1.key).",
		"fingerprint: FINGERPRINT (vault state 3)",
		"Root key epoch 1; 1 dataset readable. Try 'embassy snapshots' or 'embassy restore DATASET --target DIR'.",
	})
	target := filepath.Join(f.dir, "restore")
	newHome.run("restore", "registry", "--target", target)
	sameFile(t, filepath.Join(target, "register.csv"), "38501012231,Mari,Tamm\n")
}

// Attack 2 during a drill: the plan's first site serves a forged vault; the
// plan's home: pin makes the drill refuse it, name it, and rebuild from the
// real site.
func TestHostileForgedVaultInDrill(t *testing.T) {
	f := newFixture(t)
	realFP, forged, _ := forgedVault(t, f, "real\n", "forged\n")

	plan := filepath.Join(f.dir, "plan.yaml")
	os.WriteFile(plan, []byte("name: hostile\nhome: "+realFP+"\nsites:\n  - {name: lu, url: "+forged+"}\n  - {name: ch, url: "+filepath.Join(f.dir, "site-b")+
		"}\ncustodians: [c0.key, c1.key]\nrto: 10m\ndatasets: [{name: registry, rpo: 24h}]\n"), 0o644)
	nohome := &fixture{t: t, dir: f.dir, home: filepath.Join(f.dir, "nohome")}
	report := filepath.Join(f.dir, "drill.json")
	nohome.try("drill", plan, "--out", report) // no service: the drill itself fails its RTO check
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Body struct {
			Home   string `json:"home"`
			Checks []struct {
				Check, Subject string
				OK             bool
			} `json:"checks"`
		} `json:"body"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range doc.Body.Checks {
		got[c.Check+" "+c.Subject+" "+map[bool]string{true: "ok", false: "failed"}[c.OK]] = true
	}
	for _, want := range []string{"home lu failed", "keys ch ok", "restore registry ok"} {
		if !got[want] {
			t.Errorf("drill report lacks %q: %v", want, got)
		}
	}
	// Without a pin the drill refuses to rebuild anything (exit 4).
	os.WriteFile(plan, []byte("name: hostile\nsites:\n  - {name: lu, url: "+forged+"}\ncustodians: [c0.key, c1.key]\nrto: 10m\ndatasets: [{name: registry, rpo: 24h}]\n"), 0o644)
	// Its checks read in the order they ran: the rebuild's refusal, then
	// the RTO check that follows from it.
	fp := `fp1(-[0-9a-f]{4}){8}`
	wantRun(t, "unpinned drill", nohome.try("drill", plan, "--out", filepath.Join(f.dir, "d2.json")), 4, nil, lines{
		rx(`embassy: drill: rebuild hostile: site lu presents home fingerprint ` + fp + `: no home fingerprint pinned`),
		"embassy: drill: rto hostile: no probe succeeded: the service did not come back",
		rx(`embassy: error: drill failed before a report could be signed: site lu presents home fingerprint ` + fp + `: no home fingerprint pinned`),
		rx(`embassy: hint: check it against the fingerprint the custodians were given at 'embassy init'; if it matches, re-run with --expect-home ` + fp + ` \(plan files: 'home: ` + fp + `'\)`),
	})
}
