package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Attack 2 at crisis time: the only site the plan lists serves a vault the
// host forged with the real custodians' recipients. 'operate' with the
// plan's home: pin refuses it (exit 3, the site and the fingerprints
// named) and never serves or signs an activation.
func TestHostileForgedVaultOnOperate(t *testing.T) {
	f := newFixture(t)
	realFP, forged, host := forgedVault(t, f, "real\n", "forged\n")

	plan := filepath.Join(f.dir, "plan.yaml")
	os.WriteFile(plan, []byte("name: crisis\nhome: "+realFP+"\nsites:\n  - {name: lu, url: "+forged+"}\ncustodians: [c0.key, c1.key]\nrto: 10m\n"+
		"datasets: [{name: registry, rpo: 24h}]\nservice:\n  population: {dataset: registry, path: register.csv}\n"), 0o644)
	opDir := filepath.Join(f.dir, "op")
	nohome := &fixture{t: t, dir: f.dir, home: filepath.Join(f.dir, "nohome")}
	c := nohome.cmd("operate", plan, "--reason", "game day", "--listen", "127.0.0.1:0", "--dir", opDir)
	c.Dir = f.dir
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { c.Process.Kill() })
	err := c.Wait()
	timer.Stop()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("operate on a forged vault: %v\n%s%s", err, out.String(), errb.String())
	}
	wantLines(t, "operate on a forged vault: stderr", masked(errb.String(), f.dir, "DIR", realFP, "FINGERPRINT", host.homeFingerprint(), "FORGED_FP"), lines{
		"embassy: error: rebuild the root key: site lu presents home fingerprint FORGED_FP, expected FINGERPRINT: vault fingerprint does not match the pinned one",
		"embassy: hint: this site holds a different or forged vault: do not use it; try another site of the home and tell its operators",
	})
	for _, name := range []string{"addr", "activation.json"} {
		if _, err := os.Stat(filepath.Join(opDir, name)); !os.IsNotExist(err) {
			t.Fatalf("operate left %s after refusing", name)
		}
	}
}
