package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
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
	wurl := "http://" + (<-addr).String()
	mustRun(t, home, "witness", "add", "lu", vkey, wurl)

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
	ahead := `the log's witnesses cosigned more than the log copy shows \(size 5, root [0-9a-f]{64}\): witness lu \(` + regexp.QuoteMeta(wurl) +
		`\) cosigned size 8 \(root [0-9a-f]{64}\); the copy is stale, perhaps served with a rolled-back site, so the site cannot be shown fresh and is not used`
	wantRun(t, "stale site with a stale log copy", r, ExitDamaged, nil, lines{
		rx(`embassy: error: site ch: ` + ahead),
		"embassy: hint: recover with a fresher copy of the home's log (--log), or from another site of the home",
	})
	if _, err := os.Stat(filepath.Join(dir, "rec-stale")); err == nil {
		t.Fatal("a refused recovery left a home behind")
	}

	plan := drillPlan(t, dir, "stale-log", fmt.Sprintf("log: {dir: %s, policy: %s}\n", oldLog, policy), "ch")
	expectRun(t, filepath.Join(dir, "nohome"), ExitDamaged, []string{"drill", plan, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d.json")}, lines{
		"drill stale-log: FAIL",
		"  RTO not reached (target 600s)",
		rx(`  failed: freshness log: sites ch: ` + ahead),
		"  failed: rto stale-log: no probe succeeded: the service did not come back",
		rx(`  signed report: ` + regexp.QuoteMeta(filepath.Join(dir, "d.json")) + ` \(sha256 [0-9a-f]{16}\)`),
	}, nil)

	fresh := drillPlan(t, dir, "fresh-log", fmt.Sprintf("log: {dir: %s, policy: %s}\n", filepath.Join(home, "log"), policy), "lu")
	r = run(t, filepath.Join(dir, "nohome"), "", "drill", fresh, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d1.json"), "--json")
	var rep drillJSON
	json.Unmarshal([]byte(r.stdout), &rep)
	if len(rep.Datasets) != 1 || rep.Datasets[0].Snapshot != snap.ID {
		t.Fatalf("drill of the fresh site with the current log: exit %d %+v\n%s%s", r.code, rep, r.stdout, r.stderr)
	}
	noService := lines{
		"service registry: the plan has no probes: nothing shows the service works",
		"rto fresh-log: no probe succeeded: the service did not come back",
	}
	wantLines(t, "failures of the drill of the fresh site with the current log", strings.Join(rep.Failures, "\n")+"\n", noService)
	wantLines(t, "stderr of the drill of the fresh site with the current log", r.stderr, nil)

	wantRun(t, "fresh site with the current log", recov("rec-fresh", "lu", filepath.Join(home, "log")), ExitOK, recovered(filepath.Join(dir, "rec-fresh"), "lu", fp, 4, ids[0], ids[1]), nil)

	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// Unknown is not a pass: the home is rebuilt, the exit is partial (3)
	// and the warning names the witness.
	refused := regexp.QuoteMeta(`Get "`+wurl+`/latest?origin=digital-embassy.invalid%2F`) + `h[0-9a-f]{20}` +
		regexp.QuoteMeta(`%2Faudit": dial tcp `+strings.TrimPrefix(wurl, "http://")+`: connect: connection refused`)
	wantRun(t, "witness down", recov("rec-down", "lu", filepath.Join(home, "log")), ExitDamaged, recovered(filepath.Join(dir, "rec-down"), "lu", fp, 4, ids[0], ids[1]), lines{
		rx(`embassy: warning: witness lu \(` + regexp.QuoteMeta(wurl) + `\) not asked for its latest checkpoint: ` + refused + `; the site's freshness against it is unknown`),
	})
	if _, err := os.Stat(filepath.Join(dir, "rec-down", "embassy.yaml")); err != nil {
		t.Fatalf("witness down: no home rebuilt: %v", err)
	}
	r = run(t, filepath.Join(dir, "nohome"), "", "drill", fresh, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d2.json"), "--json")
	rep = drillJSON{}
	json.Unmarshal([]byte(r.stdout), &rep)
	if r.code != ExitDamaged || rep.Pass {
		t.Fatalf("drill with the witness down: exit %d pass %t, want exit %d and a failed witness check\n%s", r.code, rep.Pass, ExitDamaged, r.stderr)
	}
	wantLines(t, "failures of the drill with the witness down", strings.Join(rep.Failures, "\n")+"\n", append(lines{
		rx(`witness lu: not asked for its latest checkpoint \(` + regexp.QuoteMeta(wurl) + `\): ` + refused + `; freshness against it is unknown`)},
		noService...))
	wantLines(t, "stderr of the drill with the witness down", r.stderr, nil)
}
