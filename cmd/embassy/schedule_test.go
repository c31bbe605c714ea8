package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// logEntries returns the home's log as 'embassy log --json' shows it.
func (f *fixture) logEntries() []map[string]any {
	f.t.Helper()
	var out struct {
		Entries []map[string]any `json:"entries"`
	}
	raw := f.run("--json", "log")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		var list []map[string]any
		if err2 := json.Unmarshal([]byte(raw), &list); err2 != nil {
			f.t.Fatalf("log --json: %v\n%s", err, raw)
		}
		return list
	}
	return out.Entries
}

func hasEntry(ents []map[string]any, kind, reason string) bool {
	for _, e := range ents {
		if e["kind"] == kind && (reason == "" || e["reason"] == reason) {
			return true
		}
	}
	return false
}

// scheduleFixture is a home with an agreement near its end, a dataset the
// inventory does not declare, and a drill plan (with no service to probe,
// so its drill fails and says so).
func scheduleFixture(t *testing.T) (*fixture, string) {
	f := newFixture(t)
	f.run("agreement", "add", filepath.Join("..", "..", "examples", "agreements", "mc-lu.signed.yaml"))
	src := writeSource(t, filepath.Join(f.dir, "src"), "38501012231,Mari,Tamm\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1") // protect's next snapshot unwraps its key
	writeFile(t, filepath.Join(f.home, "policy.yaml"), "datasets:\n  - {name: land, owner: Land Board, rpo: 24h}\n")
	plan := filepath.Join(f.dir, "drill-plan.yaml")
	writeFile(t, plan, "name: sched-drill\nhome: "+f.homeFingerprint()+"\nsites:\n  - {name: a, url: "+filepath.Join(f.dir, "site-a")+
		"}\n  - {name: b, url: "+filepath.Join(f.dir, "site-b")+"}\ncustodians: [c0.key, c1.key]\nrto: 10m\ndatasets: [{name: registry, rpo: 24h}]\n")
	return f, "poll: 100ms\ndatasets:\n  - name: registry\n    source: {type: dir, path: " + src + "}\n    rpo: 1h\n    class: C1-I1-A1\n" +
		"schedule:\n  agreements: {notice-days: 4000}\n  drills:\n    - plan: " + plan + "\n"
}

// TestProtectRunsScheduledJobs (issue 10, issue 18 #1, #9, #28): the
// real 'embassy protect' runs the home's jobs besides the snapshots: the
// agreement within the configured notice of its end (4000 days here: the
// binary's clock cannot be moved) is an alert, its overdue review too, the dataset held at the sites but not in the declared inventory
// is an alert naming it, and the scheduled drill's result (RTO, pass) is
// in the transparency log with its signed report kept for audit bundles.
func TestProtectRunsScheduledJobs(t *testing.T) {
	f, cfg := scheduleFixture(t)
	writeFile(t, filepath.Join(f.home, "protect.yaml"), cfg)
	r := f.try("protect", "--once")
	wantRun(t, "protect --once with alerts", r.masked(), 3, lines{
		"job agreements: ALERT: 1 agreement checked: mc-lu: agreement-expiring 2033-06-30, review overdue",
		"job inventory: ALERT: 2 dataset copies at the sites, 2 not in the declared inventory",
		rx(`job integrity: ok: verified \(read data false\): 0 damaged; home state 4 compared with 2 sites; log size \d+; third locations: the other sites' signed states; 0 problems`),
		"job config: ok: 5 configuration files changed",
		"job host: ok: not configured: no daemon sites take host filings",
		"job updates: ok: not configured: no daemon sites",
		"job sla: ok: 2 sites probed, 2 up",
		"job compute: ok: not configured: no agreement reserves compute and no workloads are declared",
		"job location: ok: not configured: protect.yaml names no home position (schedule.location.from)",
		rx(`job drill:sched-drill: ALERT: drill sched-drill: pass=false, RTO not reached \(target \d+s\), cadence 2160h0m0s from the baseline`),
		rx(`snapshot [0-9a-f]{8} of registry saved \(\d+\.\d KiB\)`),
		"DATASET                  SITE         LATEST                        LAG        RPO  STATE",
		"registry                 a            YYYY-MM-DD hh:mm:ss            0s     1h0m0s  ok",
		"registry                 b            YYYY-MM-DD hh:mm:ss            0s     1h0m0s  ok",
	}, lines{
		rx(`embassy: alert: agreement-expiring: agreement mc-lu ends on 2033-06-30, in \d+ days: renew it or plan the exit`),
		"embassy: alert: agreement-review-overdue: agreement mc-lu: the hosted-dataset inventory review was due on 2026-09-15",
		"embassy: alert: inventory-undeclared: site a: dataset registry is not in the declared inventory (datasets: in policy.yaml)",
		"embassy: alert: inventory-undeclared: site b: dataset registry is not in the declared inventory (datasets: in policy.yaml)",
		"embassy: alert: drill-failed: restore drill sched-drill failed: service registry: the plan has no probes: nothing shows the service works; rto sched-drill: no probe succeeded: the service did not come back",
	})
	ents := f.logEntries()
	for _, w := range [][2]string{{"alert", "agreement-expiring"}, {"alert", "inventory-undeclared"}, {"alert", "drill-failed"}, {"drill", ""},
		{"job", ""}, {"config.change", ""}, {"verify", ""}} {
		if !hasEntry(ents, w[0], w[1]) {
			t.Errorf("the log has no %s %s entry", w[0], w[1])
		}
	}
	// The drill's key unwraps are in the key-use log too.
	drillUnwraps := 0
	for _, e := range ents {
		if d, _ := e["details"].(map[string]any); e["kind"] == "key.unwrap" && d["by"] == "drill" {
			drillUnwraps++
		}
	}
	if drillUnwraps == 0 {
		t.Error("the drill's key unwraps are not in the log")
	}
	// The drill job's summary says the service never came back (its RTO
	// is not a negative number of seconds).
	summaries := 0
	for _, e := range ents {
		if d, _ := e["details"].(map[string]any); e["kind"] == "job" && d["job"] == "drill:sched-drill" {
			summaries++
			if s, _ := d["summary"].(string); !regexp.MustCompile(`^drill sched-drill: pass=false, RTO not reached \(target [0-9]+s\), cadence .+$`).MatchString(s) {
				t.Errorf("drill job summary %q", s)
			}
		}
	}
	if summaries != 1 {
		t.Errorf("%d drill job entries, want 1", summaries)
	}
	for _, e := range ents {
		if e["kind"] == "drill" {
			d, _ := e["details"].(map[string]any)
			if d["pass"] != "false" || d["rto_seconds"] == nil || d["plan"] != "sched-drill" {
				t.Errorf("drill entry %v", e)
			}
			if _, err := os.Stat(filepath.Join(f.home, "evidence", "drills")); err != nil {
				t.Errorf("drill report not kept: %v", err)
			}
		}
	}
	// The state is persisted: a second run at the same instant finds
	// nothing new to alert on and runs no job that is not due.
	r = f.try("protect", "--once")
	wantRun(t, "protect --once again", r.masked(), 3, lines{
		"job agreements: ALERT: 1 agreement checked: mc-lu: agreement-expiring 2033-06-30, review overdue",
		"job inventory: ALERT: 2 dataset copies at the sites, 2 not in the declared inventory",
		rx(`job integrity: ok: verified \(read data false\): 0 damaged; home state 5 compared with 2 sites; log size \d+; third locations: the other sites' signed states; 0 problems`),
		"job config: ok: 0 configuration files changed",
		"job host: ok: not configured: no daemon sites take host filings",
		"job updates: ok: not configured: no daemon sites",
		"job sla: ok: 2 sites probed, 2 up",
		"job compute: ok: not configured: no agreement reserves compute and no workloads are declared",
		"job location: ok: not configured: protect.yaml names no home position (schedule.location.from)",
		rx(`job drill:sched-drill: ALERT: drill sched-drill: pass=false, RTO not reached \(target \d+s\), cadence 2160h0m0s from the baseline`),
		rx(`snapshot [0-9a-f]{8} of registry saved \(\d+\.\d KiB\)`),
		"DATASET                  SITE         LATEST                        LAG        RPO  STATE",
		"registry                 a            YYYY-MM-DD hh:mm:ss            0s     1h0m0s  ok",
		"registry                 b            YYYY-MM-DD hh:mm:ss            0s     1h0m0s  ok",
	}, lines{"embassy: alert: drill-failed: restore drill sched-drill failed: service registry: the plan has no probes: nothing shows the service works; rto sched-drill: no probe succeeded: the service did not come back"})
	var st struct {
		Jobs map[string]struct {
			Runs int `json:"runs"`
		} `json:"jobs"`
	}
	b, err := os.ReadFile(filepath.Join(f.home, "schedule", "state.json"))
	if err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("schedule state: %v", err)
	}
	var names []string
	for n, j := range st.Jobs {
		if j.Runs != 2 {
			t.Errorf("job %s ran %d times, want 2", n, j.Runs)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "agreements,compute,config,drill:sched-drill,host,integrity,inventory,location,protect,sla,updates" {
		t.Errorf("jobs %v", names)
	}
}

var integrityLine = regexp.MustCompile(`job integrity: (ok|ALERT): `)

// TestHostileRollbackCaughtBySchedule (issue 18 #10): while 'embassy
// protect' runs, the host of site a rolls its signed vault state back
// (deletes the newest state record); the next scheduled integrity run,
// with nothing else started, alerts naming site a, and the alert is in
// the log.
func TestHostileRollbackCaughtBySchedule(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "38501012231,Mari,Tamm\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	writeSource(t, src, "49001010000,Jaan,Kask\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	writeFile(t, filepath.Join(f.home, "protect.yaml"), "poll: 100ms\ndatasets:\n  - name: registry\n    source: {type: dir, path: "+src+"}\n    rpo: 1h\n    class: C1-I1-A1\n"+
		"schedule:\n  integrity: {every: 300ms}\n  agreements: {off: true}\n  inventory: {off: true}\n")
	p := startProtect(t, f)
	if m := p.next(integrityLine, 60*time.Second); m[1] != "ok" {
		t.Fatalf("first integrity run on honest sites: %v\n%s", m, p.stderr())
	}
	states, _ := filepath.Glob(filepath.Join(f.dir, "site-a", "config", "state-*"))
	sort.Strings(states)
	if len(states) < 2 {
		t.Fatalf("site a holds %d state records", len(states))
	}
	if err := os.Remove(states[len(states)-1]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		m := p.next(integrityLine, time.Until(deadline))
		if m[1] == "ALERT" {
			break
		}
	}
	p.stop()
	if code := p.wait(); code != 0 {
		t.Fatalf("protect exited %d\n%s", code, p.stderr())
	}
	wantLines(t, "protect's stderr", p.stderr(), lines{
		"embassy: alert: integrity-mismatch: site a shows signed state 4, older than the home's 5: rolled back or behind; its snapshot list lacks 1 of the home's snapshots a",
	})
	found := false
	for _, e := range f.logEntries() {
		if e["kind"] == "alert" && e["reason"] == "integrity-mismatch" && e["site"] == "a" {
			found = true
		}
		if e["kind"] == "alert" && e["site"] == "b" {
			t.Errorf("honest site b alerted: %v", e)
		}
	}
	if !found {
		t.Fatal("the integrity alert naming site a is not in the log")
	}
}

// TestAuditBundleAllParts (issue 18 #24): after scheduled jobs and a
// drill, 'audit export' writes a bundle whose four parts and documents
// verify offline against the log policy alone; a bundle with an altered
// drill report or configuration version, or a part cut, is refused.
func TestAuditBundleAllParts(t *testing.T) {
	f, cfg := scheduleFixture(t)
	writeFile(t, filepath.Join(f.home, "protect.yaml"), cfg)
	f.try("protect", "--once")
	bundle := filepath.Join(f.dir, "audit.json")
	f.run("audit", "export", "--from", "2020-01-01", "-o", bundle)
	policy := filepath.Join(f.dir, "policy.copy")
	b, _ := os.ReadFile(filepath.Join(f.home, "log", "policy"))
	writeFile(t, policy, string(b))
	// Offline: no home, the policy obtained out of band.
	nohome := exec.Command(bin, "--home", filepath.Join(f.dir, "nohome"), "--json", "audit", "verify", "--policy", policy, bundle)
	nohome.Env = append(os.Environ(), "EMBASSY_HOME=")
	out, err := nohome.Output()
	if err != nil {
		t.Fatalf("honest bundle: %v\n%s", err, out)
	}
	var res struct {
		OK        bool `json:"ok"`
		KeyUse    int  `json:"key_use"`
		Drills    int  `json:"drills"`
		Config    int  `json:"config"`
		Documents int  `json:"documents"`
	}
	if err := json.Unmarshal(out, &res); err != nil || !res.OK || res.KeyUse == 0 || res.Drills != 1 || res.Config < 4 || res.Documents < res.Drills+4 {
		t.Fatalf("verify: %s (%v)", out, err)
	}
	raw, _ := os.ReadFile(bundle)
	audited := map[string]string{ // what each alteration is refused for
		"drill report altered":   `the drill-report of entry \d+ does not match the digest the log records \(sha256 [0-9a-f]{64}\)`,
		"config version altered": `the config of entry \d+ does not match the digest the log records \(sha256 [0-9a-f]{64}\)`,
		"key-use part cut":       `key-use log lists entries \[[0-9 ]+\], the log's period has \[[0-9 ]+\]`,
	}
	for name, edit := range map[string]func(m map[string]any){
		"drill report altered": func(m map[string]any) {
			for _, d := range m["documents"].([]any) {
				if dd := d.(map[string]any); dd["kind"] == "drill-report" {
					dd["content"] = "e30K" // "{}\n"
				}
			}
		},
		"config version altered": func(m map[string]any) {
			for _, d := range m["documents"].([]any) {
				if dd := d.(map[string]any); dd["name"] == "policy.yaml" {
					dd["content"] = "ZGF0YXNldHM6IFtdCg==" // "datasets: []\n"
				}
			}
		},
		"key-use part cut": func(m map[string]any) {
			parts := m["parts"].(map[string]any)
			parts["key_use"] = parts["key_use"].([]any)[1:]
		},
	} {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		bad, _ := json.Marshal(m)
		p := filepath.Join(f.dir, "bad.json")
		writeFile(t, p, string(bad))
		r := f.try("audit", "verify", "--policy", policy, p)
		wantRun(t, name, r.masked(f.dir, "DIR"), 3, nil, lines{
			rx(`embassy: error: DIR/bad\.json does not verify: (` + audited[name] + `): the audit bundle is incomplete or altered`),
			"embassy: hint: the file, the log or a witness was tampered with, or the trust anchor is wrong; get the policy from the sending state out of band",
		})
	}
}
