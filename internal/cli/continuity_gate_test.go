package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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
	for _, s := range []string{"lu", "ch"} {
		if !hasFailure(rep.Failures, "policy reg at "+s, "residency-restore") {
			t.Errorf("no denial of site %s by rule residency-restore in %q", s, rep.Failures)
		}
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
	r = run(t, filepath.Join(dir, "nohome"), "", "drill", plan, "--expect-home", fp, "--identity", ids[0], "--identity", ids[2], "--out", report)
	if r.code != ExitDamaged || !strings.Contains(r.stdout, "policy denies restore of reg at site lu (residency-restore)") {
		t.Fatalf("drill without a home: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	evs, err := evidence.ReadJournal(filepath.Join(dir, "out", "events.jsonl"))
	if err != nil || len(evs) != 1 || !strings.Contains(fmt.Sprint(evs[0].Fields["denied"]), "reg at ch (residency-restore)") {
		t.Fatalf("journal: %v %+v", err, evs)
	}
}

func hasFailure(fs []string, prefix, rule string) bool {
	for _, f := range fs {
		if strings.HasPrefix(f, prefix+":") && strings.Contains(f, "("+rule+")") {
			return true
		}
	}
	return false
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
	r = run(t, nohome, "", "drill", alone, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d1.json"))
	if r.code != ExitDamaged || !strings.Contains(r.stdout, "freshness ch: site ch presents less than the log's witnesses cosigned") || !strings.Contains(r.stdout, "datasets reg (") {
		t.Fatalf("stale site alone: exit %d, want %d naming ch\n%s%s", r.code, ExitDamaged, r.stdout, r.stderr)
	}

	both := drillPlan(t, dir, "both-log", logPart, "ch", "lu")
	r = run(t, nohome, "", "drill", both, "--expect-home", fp, "--identity", ids[0], "--identity", ids[1], "--out", filepath.Join(dir, "d2.json"), "--json")
	rep = drillJSON{}
	json.Unmarshal([]byte(r.stdout), &rep)
	if len(rep.Datasets) != 1 || rep.Datasets[0].Snapshot != snap.ID {
		t.Fatalf("with a fresh site: restored %+v, want the newest snapshot %s\n%s%s", rep.Datasets, snap.ID, r.stdout, r.stderr)
	}
	if rep.Pass || !strings.Contains(strings.Join(rep.Failures, "\n"), "freshness ch: site ch presents less") {
		t.Fatalf("stale site not reported: pass %t %q", rep.Pass, rep.Failures)
	}

	r = run(t, filepath.Join(dir, "rec"), "", "recover", "--site", filepath.Join(dir, "site-ch"), "--name", "ch", "--expect-home", fp,
		"--identity", ids[0], "--identity", ids[1], "--log", logDir, "--log-policy", filepath.Join(logDir, "policy"))
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "site ch presents vault state") {
		t.Fatalf("recover from the stale site: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, filepath.Join(dir, "rec"), "", "recover", "--site", filepath.Join(dir, "site-ch"), "--name", "ch", "--expect-home", fp,
		"--identity", ids[0], "--identity", ids[1], "--compare", filepath.Join(dir, "site-lu"))
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "another site of the home shows") {
		t.Fatalf("recover from the stale site beside a fresh one: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, filepath.Join(dir, "rec"), "", "recover", "--site", filepath.Join(dir, "site-lu"), "--name", "lu", "--expect-home", fp,
		"--identity", ids[0], "--identity", ids[1], "--log", logDir, "--log-policy", filepath.Join(logDir, "policy"))
	if r.code != 0 {
		t.Fatalf("recover from the fresh site: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
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
	if r.code != 0 || !strings.Contains(r.stdout, "deactivated by custodians 1,3") {
		t.Fatalf("operate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var ents []tlog.Indexed
	json.Unmarshal([]byte(mustRun(t, home, "--json", "log")), &ents)
	events := map[string][]tlog.Entry{}
	for _, x := range ents {
		if x.Kind == tlog.KindOperate && x.Details["session"] == session {
			events[x.Details["event"]] = append(events[x.Details["event"]], x.Entry)
		}
	}
	if rs := events["deactivation-refused"]; len(rs) != 2 || rs[0].Details["by"] != "registrar-1" || !strings.Contains(rs[0].Details["refused"], "may not deactivate") ||
		!strings.Contains(rs[1].Details["refused"], "1 valid custodian signatures, 2 needed") {
		t.Errorf("refused deactivation entries: %+v", rs)
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
	if r := run(t, rec, "", args()...); r.code != ExitKey || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("wrong passphrase: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, rec, "", "recover", "--site", filepath.Join(dir, "site-lu"), "--expect-home", fp, "--identity", ids[0], "--identity", enc); r.code != ExitKey || !strings.Contains(r.stderr, "--passphrase-file") {
		t.Fatalf("no passphrase source: exit %d\n%s", r.code, r.stderr)
	}
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	out := mustRun(t, rec, args()...)
	if !strings.Contains(out, "with 2 of 2 needed custodians") {
		t.Fatalf("recover: %s", out)
	}
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
