package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/sample"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// drillPlan writes a plan over the named sites of setup's layout (no
// service: the report's restore checks are what these tests look at).
func drillPlan(t *testing.T, dir, name string, extra string, sites ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nsites:\n", name)
	for _, s := range sites {
		fmt.Fprintf(&b, "  - {name: %s, url: %s, jurisdiction: %s}\n", s, filepath.Join(dir, "site-"+s), strings.ToUpper(s))
	}
	b.WriteString("rto: 10m\ndatasets: [{name: reg, rpo: 24h}]\n" + extra)
	p := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type drillJSON struct {
	Pass     bool     `json:"pass"`
	Failures []string `json:"failures"`
	Datasets []struct {
		Snapshot string `json:"snapshot"`
	} `json:"datasets"`
}

// TestDrillPolicyDeniesRestore: the failover restore of a drill asks the
// policy gate exactly as 'embassy restore' does. A dataset whose class
// may be held only in FI is refused at both sites (LU, CH) with the rule
// id, each denial is written to the home's log, and without a home the
// plan's policy.yaml decides the same.
func TestDrillPolicyDeniesRestore(t *testing.T) {
	dir, home, ids := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("register row\n"), 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C1-I1-A1")
	fp := homeFingerprint(t, home)
	settings := []byte("classes:\n  - class: C1-I0-A0\n    jurisdictions: [FI]\n    restore-within-residency: true\n")
	os.WriteFile(filepath.Join(home, policy.SettingsFile), settings, 0o644)

	plan := drillPlan(t, dir, "denied", "", "lu", "ch")
	report := filepath.Join(dir, "drill.json")
	r := run(t, home, "", "drill", plan, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", report, "--json")
	var rep drillJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("drill: exit %d: %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if r.code != ExitDamaged || rep.Pass || len(rep.Datasets) != 0 {
		t.Fatalf("drill of a denied dataset: exit %d pass %t datasets %d, want exit %d and no restore\n%s", r.code, rep.Pass, len(rep.Datasets), ExitDamaged, r.stdout)
	}
	wantLines(t, "drill failures", strings.Join(rep.Failures, "\n")+"\n", lines{
		"policy reg at lu: policy denies restore of reg at site lu (residency-restore): C1-I1-A1 data may be held only in FI; site lu is in LU, so its copy is not restored from: restore from a site there, or widen the class rule (or drop restore-within-residency) in policy.yaml",
		"policy reg at ch: policy denies restore of reg at site ch (residency-restore): C1-I1-A1 data may be held only in FI; site ch is in CH, so its copy is not restored from: restore from a site there, or widen the class rule (or drop restore-within-residency) in policy.yaml",
		"service registry: the plan has no probes: nothing shows the service works",
		"rto denied: no probe succeeded: the service did not come back",
	})
	wantLines(t, "drill stderr", r.stderr, nil)
	for _, s := range []string{"lu", "ch"} {
		if !hasDenial(policyDenials(t, home), "restore", s, "residency-restore") {
			t.Errorf("no restore denial at %s in the home's log", s)
		}
	}
	if ds := drillEntries(t, home); len(ds) != 1 || ds[0].Details["pass"] != "false" {
		t.Errorf("drill entries in the log: %+v, want one failed drill", ds)
	}

	// No home on this machine: the plan's policy decides, the journal
	// next to the report names the denials.
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, settings, 0o644)
	plan = drillPlan(t, dir, "denied-nohome", "policy: "+pol+"\n", "lu", "ch")
	report = filepath.Join(dir, "out", "drill.json")
	os.MkdirAll(filepath.Dir(report), 0o755)
	expectRun(t, filepath.Join(dir, "nohome"), ExitDamaged, []string{"drill", plan, "--expect-home", fp, "--identity", ids[0], "--identity", ids[2], "--out", report}, lines{
		"drill denied-nohome: FAIL",
		"  RTO not reached (target 600s)",
		"  failed: " + "policy reg at lu: policy denies restore of reg at site lu (residency-restore): C1-I1-A1 data may be held only in FI; site lu is in LU, so its copy is not restored from: restore from a site there, or widen the class rule (or drop restore-within-residency) in policy.yaml",
		"  failed: " + "policy reg at ch: policy denies restore of reg at site ch (residency-restore): C1-I1-A1 data may be held only in FI; site ch is in CH, so its copy is not restored from: restore from a site there, or widen the class rule (or drop restore-within-residency) in policy.yaml",
		"  failed: service registry: the plan has no probes: nothing shows the service works",
		"  failed: rto denied-nohome: no probe succeeded: the service did not come back",
		rx(`  signed report: ` + regexp.QuoteMeta(report) + ` \(sha256 [0-9a-f]{16}\)`),
	}, nil)
	evs, err := evidence.ReadJournal(filepath.Join(dir, "out", "events.jsonl"))
	if err != nil || len(evs) != 1 {
		t.Fatalf("journal: %v %+v", err, evs)
	}
	wantLines(t, "the journal's denials", fmt.Sprint(evs[0].Fields["denied"])+"\n", lines{"[reg at lu (residency-restore) reg at ch (residency-restore)]"})
}

func drillEntries(t *testing.T, home string) []tlog.Indexed {
	t.Helper()
	var ents []tlog.Indexed
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "log")), &ents); err != nil {
		t.Fatal(err)
	}
	var out []tlog.Indexed
	for _, x := range ents {
		if x.Kind == tlog.KindDrill {
			out = append(out, x)
		}
	}
	return out
}

// TestDrillStaleSiteAgainstWitnesses: a site that dropped its newest
// manifest (and the signed state records that list it) looks like a whole
// vault on its own. Checked against the plan's copy of the home's log,
// whose checkpoint the witnesses cosigned, it is named stale and never
// used: alone it refuses the drill; with a fresh site beside it the drill
// restores the newest snapshot from the fresh one and fails the
// freshness check naming the stale one. recover refuses it too.
func TestDrillStaleSiteAgainstWitnesses(t *testing.T) {
	dir, home, ids := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("version 1\n"), 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C1-I1-A1")
	fp := homeFingerprint(t, home) // before the drop: the home would copy its signed state back to ch
	old := filepath.Join(dir, "ch-before")
	if err := os.CopyFS(old, os.DirFS(filepath.Join(dir, "site-ch"))); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("version 2\n"), 0o644)
	var snap struct{ ID string }
	json.Unmarshal([]byte(mustRun(t, home, "--json", "snapshot", "reg", src)), &snap)
	// The host of ch drops everything newer than the first snapshot.
	os.RemoveAll(filepath.Join(dir, "site-ch"))
	if err := os.Rename(old, filepath.Join(dir, "site-ch")); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(home, "log")
	logPart := fmt.Sprintf("log: {dir: %s, policy: %s}\n", logDir, filepath.Join(logDir, "policy"))
	nohome := filepath.Join(dir, "nohome")

	// Without the log, the stale site alone looks whole.
	alone := drillPlan(t, dir, "alone", "", "ch")
	r := run(t, nohome, "", "drill", alone, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d0.json"), "--json")
	var rep drillJSON
	json.Unmarshal([]byte(r.stdout), &rep)
	if len(rep.Datasets) != 1 || rep.Datasets[0].Snapshot == snap.ID {
		t.Fatalf("baseline: the stale site should serve its older snapshot: exit %d %+v\n%s", r.code, rep, r.stderr)
	}

	alone = drillPlan(t, dir, "alone-log", logPart, "ch")
	// reg's dataset id is random
	freshness := regexp.QuoteMeta("freshness ch: site ch presents less than the log's witnesses cosigned (checkpoint of size 7): it misses the newest snapshots of datasets reg (") +
		"[0-9a-f]{32}" + regexp.QuoteMeta("); stale or hiding manifests, not used")
	expectRun(t, nohome, ExitDamaged, []string{"drill", alone, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d1.json")}, lines{
		"drill alone-log: FAIL",
		"  RTO not reached (target 600s)",
		rx(`  failed: ` + freshness),
		"  failed: rto alone-log: no probe succeeded: the service did not come back",
		rx(`  signed report: ` + regexp.QuoteMeta(filepath.Join(dir, "d1.json")) + ` \(sha256 [0-9a-f]{16}\)`),
	}, nil)

	both := drillPlan(t, dir, "both-log", logPart, "ch", "lu")
	r = run(t, nohome, "", "drill", both, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d2.json"), "--json")
	rep = drillJSON{}
	json.Unmarshal([]byte(r.stdout), &rep)
	if len(rep.Datasets) != 1 || rep.Datasets[0].Snapshot != snap.ID {
		t.Fatalf("with a fresh site: restored %+v, want the newest snapshot %s\n%s%s", rep.Datasets, snap.ID, r.stdout, r.stderr)
	}
	if r.code != ExitDamaged || rep.Pass {
		t.Fatalf("stale site beside a fresh one: exit %d pass %t, want exit %d and a failed drill", r.code, rep.Pass, ExitDamaged)
	}
	wantLines(t, "failures of the drill beside a fresh site", strings.Join(rep.Failures, "\n")+"\n", lines{
		"site-integrity ch: stale-state: site shows vault state 3 but the home's freshest signed state is 4 (from lu); its listings are not trusted",
		rx(freshness),
		"service registry: the plan has no probes: nothing shows the service works",
		"rto both-log: no probe succeeded: the service did not come back",
	})

	rec := filepath.Join(dir, "rec")
	homeAlone := "embassy: warning: the log policy names no witness outside the home: the site's freshness is checked against the log copy alone"
	expectRun(t, rec, ExitDamaged, []string{"recover", "--site", filepath.Join(dir, "site-ch"), "--name", "ch", "--expect-home", fp,
		"--identity", ids[0], "--identity", ids[1], "--log", logDir, "--log-policy", filepath.Join(logDir, "policy")}, nil, lines{
		homeAlone,
		rx(`embassy: error: site ch presents vault state 3, which misses the newest snapshots the log's witnesses cosigned \(datasets [0-9a-f]{32}\): stale or hiding manifests, not used`),
		"embassy: hint: recover from another site of the home, one that shows the newest snapshots",
	})
	expectRun(t, rec, ExitDamaged, []string{"recover", "--site", filepath.Join(dir, "site-ch"), "--name", "ch", "--expect-home", fp,
		"--identity", ids[0], "--identity", ids[1], "--compare", filepath.Join(dir, "site-lu")}, nil, lines{
		rx(`time=\S+ level=WARN msg="hostile or damaged site" site=ch attack=stale-state object="" detail="site shows vault state 3 but the home's freshest signed state is 4 \(from compare-1\); its listings are not trusted"`),
		"embassy: error: site ch presents vault state 3, another site of the home shows 4: stale or hiding manifests, not used",
		"embassy: hint: recover from the site that shows the freshest state",
	})
	expectRun(t, rec, ExitOK, []string{"recover", "--site", filepath.Join(dir, "site-lu"), "--name", "lu", "--expect-home", fp,
		"--identity", ids[0], "--identity", ids[1], "--log", logDir, "--log-policy", filepath.Join(logDir, "policy")}, recovered(rec, "lu", fp, 4, ids[0], ids[1]), lines{homeAlone})
}

// TestOperateDeactivationQuorum: no official's lookup token ends a crisis
// session (403, audited, journalled and written to the home's log); one
// custodian's signature is not a quorum; k custodians' signatures made
// with 'embassy operate sign' deactivate it.
func TestOperateDeactivationQuorum(t *testing.T) {
	dir, home, ids := setup(t)
	src := filepath.Join(dir, "registry")
	if _, err := sample.Generate(src, sample.Options{Rows: 200, Documents: 1, DocSize: 512}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, home, "snapshot", "population-register", src, "--class", "C1-I1-A1")
	tokFile := filepath.Join(dir, "official.token")
	mustRun(t, home, "operate", "token", "issue", "--official", "registrar-1", "--ttl", "24h", "-o", tokFile)
	var gone struct{ Token, ID string }
	json.Unmarshal([]byte(mustRun(t, home, "--json", "operate", "token", "issue", "--official", "registrar-2", "--ttl", "24h")), &gone)
	revoked := filepath.Join(dir, "revoked.json")
	mustRun(t, home, "operate", "token", "revoke", gone.ID, "-o", revoked)
	fp := homeFingerprint(t, home)
	plan := filepath.Join(dir, "plan.yaml")
	os.WriteFile(plan, fmt.Appendf(nil, `name: quorum
sites: [{name: lu, url: %s, jurisdiction: LU}]
rto: 10m
datasets: [{name: population-register, rpo: 24h}]
service:
  population: {dataset: population-register, path: population-register.csv}
`, filepath.Join(dir, "site-lu")), 0o644)
	opDir := filepath.Join(dir, "op")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		var o, e strings.Builder
		code := Main(ctx, []string{"--home", home, "--progress", "never", "operate", plan, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1],
			"--reason", "quorum test", "--listen", "127.0.0.1:0", "--dir", opDir, "--revoked", revoked}, strings.NewReader(""), &o, &e)
		done <- result{code, o.String(), e.String()}
	}()
	var addr string
	for addr == "" {
		select {
		case r := <-done:
			t.Fatalf("operate exited early: %d\n%s%s", r.code, r.stdout, r.stderr)
		case <-time.After(20 * time.Millisecond):
			b, _ := os.ReadFile(filepath.Join(opDir, "addr"))
			addr = string(b)
		}
	}
	b, _ := os.ReadFile(filepath.Join(opDir, "activation.json"))
	var doc evidence.Document
	var act struct{ Session string }
	if err := json.Unmarshal(b, &doc); err != nil || doc.Decode(&act) != nil || act.Session == "" {
		t.Fatalf("activation.json: %v\n%s", err, b)
	}
	session := act.Session
	post := func(token string, body []byte) int {
		req, _ := http.NewRequest("POST", "http://"+addr+"/deactivate", bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	lookup := func(token string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/population/00000000000", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok, _ := os.ReadFile(tokFile)
	if code := lookup(gone.Token); code != http.StatusUnauthorized {
		t.Fatalf("lookup with a revoked token: %d, want 401", code)
	}
	if code := lookup(strings.TrimSpace(string(tok))); code == http.StatusUnauthorized || code == http.StatusForbidden {
		t.Fatalf("lookup with a valid token: %d", code)
	}
	if code := post(strings.TrimSpace(string(tok)), nil); code != http.StatusForbidden {
		t.Fatalf("deactivate with an official's lookup token: %d, want 403", code)
	}
	nohome := filepath.Join(dir, "nohome")
	q := filepath.Join(dir, "quorum.json")
	mustRun(t, nohome, "operate", "sign", "--site", filepath.Join(dir, "site-lu"), "--expect-home", fp, "--session", session, "--identity", ids[0], "-o", q)
	one, _ := os.ReadFile(q)
	if code := post("", one); code != http.StatusForbidden {
		t.Fatalf("deactivate with one custodian of 2: %d, want 403", code)
	}
	if r := run(t, nohome, "", "operate", "sign", "--site", filepath.Join(dir, "site-lu"), "--expect-home", "fp1-0000-0000-0000-0000-0000-0000-0000-0000-0000", "--session", session, "--identity", ids[2], "-o", q); r.code == 0 {
		t.Fatalf("signed for a home the site does not present:\n%s", r.stdout)
	}
	mustRun(t, nohome, "operate", "sign", "--site", filepath.Join(dir, "site-lu"), "--expect-home", fp, "--session", session, "--identity", ids[2], "-o", q)
	two, _ := os.ReadFile(q)
	if code := post("", two); code != http.StatusAccepted {
		t.Fatalf("deactivate with 2 custodians: %d, want 202", code)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("operate did not end within 2 minutes of a quorum's /deactivate")
	}
	if r.code != ExitOK {
		t.Fatalf("operate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantLines(t, "operate", r.stdout, lines{
		rx(`crisis session ` + session + ` active: serving 1 dataset on http://` + regexp.QuoteMeta(addr) + ` \(restored in [0-9]+\.[0-9]s\)`),
		"  activation signed: " + filepath.Join(opDir, "activation.json"),
		"crisis session " + session + " deactivated by custodians 1,3: 6 audited requests; signed report " + filepath.Join(opDir, "deactivation.json"),
	})
	wantLines(t, "operate stderr", r.stderr, nil)
	var ents []tlog.Indexed
	json.Unmarshal([]byte(mustRun(t, home, "--json", "log")), &ents)
	events := map[string][]tlog.Entry{}
	for _, x := range ents {
		if x.Kind == tlog.KindOperate && x.Details["session"] == session {
			events[x.Details["event"]] = append(events[x.Details["event"]], x.Entry)
		}
	}
	if rs := events["deactivation-refused"]; len(rs) != 2 || rs[0].Details["by"] != "registrar-1" {
		t.Errorf("refused deactivation entries: %+v", rs)
	} else {
		wantLines(t, "the refusals in the log", rs[0].Details["refused"]+"\n"+rs[1].Details["refused"]+"\n", lines{
			"token role lookup may not deactivate",
			"deactivation quorum refused: 1 valid custodian signatures, 2 needed",
		})
	}
	if len(events["activation"]) != 1 || len(events["deactivation"]) != 1 || events["deactivation"][0].Details["by"] != "custodians 1,3" {
		t.Errorf("session entries: %+v", events)
	}
	var revokes, issued int
	for _, x := range ents {
		revokes += boolInt(x.Kind == tlog.KindOperateRevoke && x.Object == gone.ID)
		issued += boolInt(x.Kind == tlog.KindKeyUse && x.Details["use"] == "operate-token")
	}
	if revokes != 1 || issued != 2 {
		t.Errorf("log: %d revocations of %s, %d tokens issued; want 1 and 2", revokes, gone.ID, issued)
	}
	audit, _ := os.ReadFile(filepath.Join(opDir, "audit.jsonl"))
	if strings.Count(string(audit), `"status":403`) != 2 {
		t.Errorf("audit has %d refusals, want 2:\n%s", strings.Count(string(audit), `"status":403`), audit)
	}
}

// encryptIdentity writes src's identity file passphrase-encrypted, as
// 'age -p -a' does (scrypt recipient, armored).
func encryptIdentity(t *testing.T, src, dst, pass string) {
	t.Helper()
	plain, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	rcp, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	rcp.SetWorkFactor(12) // age -d accepts up to 22; keep the test fast
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, rcp)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	os.WriteFile(dst, out.Bytes(), 0o600)
}

// TestRecoverPassphraseIdentity: recover accepts a custodian identity
// file encrypted with a passphrase (what 'age -p' writes), with the
// passphrase from --passphrase-file; a wrong passphrase is a key error
// (exit 4) that says so, and no passphrase source at all says how to give one.
func TestRecoverPassphraseIdentity(t *testing.T) {
	dir, home, ids := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("row\n"), 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C1-I1-A1")
	fp := homeFingerprint(t, home)
	enc := filepath.Join(dir, "b.key.age")
	encryptIdentity(t, ids[1], enc, "correct horse battery staple")
	pass := filepath.Join(dir, "pass.txt")
	os.WriteFile(pass, []byte("wrong\n"), 0o600)
	args := func() []string {
		return []string{"recover", "--site", filepath.Join(dir, "site-lu"), "--name", "lu", "--expect-home", fp,
			"--identity", ids[0], "--identity", enc, "--passphrase-file", pass}
	}
	rec := filepath.Join(dir, "rec")
	expectRun(t, rec, ExitKey, args(), nil, lines{
		"embassy: error: identity " + enc + ": wrong passphrase, or the file is not passphrase-encrypted",
		"embassy: hint: check the passphrase (the one given to 'age -p' when the identity was encrypted)",
	})
	expectRun(t, rec, ExitKey, []string{"recover", "--site", filepath.Join(dir, "site-lu"), "--expect-home", fp, "--identity", ids[0], "--identity", enc}, nil, lines{
		"embassy: error: identity " + enc + " is passphrase-encrypted and no passphrase can be asked",
		"embassy: hint: run on a terminal, or give the passphrase in a file with --passphrase-file FILE or EMBASSY_PASSPHRASE_FILE",
	})
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	expectRun(t, rec, ExitOK, args(), recovered(rec, "lu", fp, 3, ids[0], enc), nil)
	restored := filepath.Join(dir, "out")
	mustRun(t, rec, "restore", "reg", "--target", restored)
	if b, _ := os.ReadFile(filepath.Join(restored, "a.txt")); string(b) != "row\n" {
		t.Fatalf("restored %q", b)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
