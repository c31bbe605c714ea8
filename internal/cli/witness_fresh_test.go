package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/witness"
)

// TestRecoverAgainstWitnessLatest: a host rolls site ch back and serves,
// with it, a copy of the home's log as old as the site (both consistent,
// the copy's checkpoint validly cosigned). Against the copy alone the site
// looks fresh; the host witness, asked for the newest checkpoint it
// cosigned, shows a larger tree, so recover and drill refuse (exit 3)
// naming the site and the witness. A fresh site with the current log
// passes; with the witness down it is
// rebuilt, with a warning naming the witness and exit 3 (not a pass).
func TestRecoverAgainstWitnessLatest(t *testing.T) {
	dir, home, ids := setup(t)
	pub, err := os.ReadFile(filepath.Join(home, "log", "log.pub"))
	if err != nil {
		t.Fatal(err)
	}
	wdir := filepath.Join(dir, "witness-lu")
	s, vkey, err := witness.LoadOrCreateKey(wdir, "lu-witness", witness.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: []string{strings.TrimSpace(string(pub))}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- witness.Serve(ctx, "127.0.0.1:0", w.Handler(), func(a net.Addr) { addr <- a }) }()
	mustRun(t, home, "witness", "add", "lu", vkey, "http://"+(<-addr).String())

	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("version 1\n"), 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C1-I1-A1")
	fp := homeFingerprint(t, home)
	oldSite, oldLog := filepath.Join(dir, "ch-before"), filepath.Join(dir, "log-before")
	if err := os.CopyFS(oldSite, os.DirFS(filepath.Join(dir, "site-ch"))); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(oldLog, os.DirFS(filepath.Join(home, "log"))); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("version 2\n"), 0o644)
	var snap struct{ ID string }
	json.Unmarshal([]byte(mustRun(t, home, "--json", "snapshot", "reg", src)), &snap)
	os.RemoveAll(filepath.Join(dir, "site-ch"))
	if err := os.Rename(oldSite, filepath.Join(dir, "site-ch")); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "policy") // the custodians' copy of the policy
	if err := os.CopyFS(filepath.Join(dir, "pol"), os.DirFS(filepath.Join(home, "log"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "pol", "policy"), policy); err != nil {
		t.Fatal(err)
	}
	recov := func(to, site, logDir string) result {
		return run(t, filepath.Join(dir, to), "", "recover", "--site", filepath.Join(dir, "site-"+site), "--name", site, "--expect-home", fp,
			"--identity", ids[0], "--identity", ids[1], "--log", logDir, "--log-policy", policy)
	}

	r := recov("rec-stale", "ch", oldLog)
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "site ch: the log's witnesses cosigned more than the log copy shows") ||
		!strings.Contains(r.stderr, "witness lu (http://") {
		t.Fatalf("stale site with a stale log copy: exit %d, want %d naming ch and witness lu\n%s%s", r.code, ExitDamaged, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "rec-stale")); err == nil {
		t.Fatal("a refused recovery left a home behind")
	}

	plan := drillPlan(t, dir, "stale-log", fmt.Sprintf("log: {dir: %s, policy: %s}\n", oldLog, policy), "ch")
	r = run(t, filepath.Join(dir, "nohome"), "", "drill", plan, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d.json"))
	if r.code != ExitDamaged || !strings.Contains(r.stdout+r.stderr, "sites ch: the log's witnesses cosigned more than the log copy shows") {
		t.Fatalf("drill with a stale log copy: exit %d, want %d\n%s%s", r.code, ExitDamaged, r.stdout, r.stderr)
	}

	fresh := drillPlan(t, dir, "fresh-log", fmt.Sprintf("log: {dir: %s, policy: %s}\n", filepath.Join(home, "log"), policy), "lu")
	r = run(t, filepath.Join(dir, "nohome"), "", "drill", fresh, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d1.json"), "--json")
	var rep drillJSON
	json.Unmarshal([]byte(r.stdout), &rep)
	fails := strings.Join(rep.Failures, "\n")
	if len(rep.Datasets) != 1 || rep.Datasets[0].Snapshot != snap.ID || strings.Contains(fails, "witness") || strings.Contains(fails, "freshness") {
		t.Fatalf("drill of the fresh site with the current log: exit %d %+v\n%s%s", r.code, rep, r.stdout, r.stderr)
	}

	r = recov("rec-fresh", "lu", filepath.Join(home, "log"))
	if r.code != 0 || strings.Contains(r.stderr, "witness lu") {
		t.Fatalf("fresh site with the current log: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	r = recov("rec-down", "lu", filepath.Join(home, "log"))
	// Unknown is not a pass: the home is rebuilt, the exit is partial (3)
	// and the warning names the witness.
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "witness lu (http://") || !strings.Contains(r.stderr, "not asked for its latest checkpoint") {
		t.Fatalf("witness down: exit %d, want %d with a warning naming lu\n%s%s", r.code, ExitDamaged, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "rec-down", "embassy.yaml")); err != nil {
		t.Fatalf("witness down: no home rebuilt: %v", err)
	}
	r = run(t, filepath.Join(dir, "nohome"), "", "drill", fresh, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d2.json"), "--json")
	rep = drillJSON{}
	json.Unmarshal([]byte(r.stdout), &rep)
	if rep.Pass || !strings.Contains(strings.Join(rep.Failures, "\n"), "witness lu: not asked for its latest checkpoint") {
		t.Fatalf("drill with the witness down: exit %d pass %t %q, want a failed witness check naming lu\n%s", r.code, rep.Pass, rep.Failures, r.stderr)
	}
}
