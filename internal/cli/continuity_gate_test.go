package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/policy"
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
	settings := []byte("classes:\n  - class: C1-I0-A0\n    jurisdictions: [FI]\n")
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
	r = run(t, filepath.Join(dir, "rec"), "", "recover", "--site", filepath.Join(dir, "site-lu"), "--name", "lu", "--expect-home", fp,
		"--identity", ids[0], "--identity", ids[1], "--log", logDir, "--log-policy", filepath.Join(logDir, "policy"))
	if r.code != 0 {
		t.Fatalf("recover from the fresh site: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
