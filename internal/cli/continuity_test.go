package cli

import (
	"bufio"
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

	"github.com/digital-embassy/embassy/internal/sample"
)

func firstKey(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Scan()
	s.Scan()
	return strings.SplitN(s.Text(), ",", 2)[0]
}

// TestProtectFailedDumpNotCommitted: a pg_dump that dies mid-stream must not
// replace the last good snapshot. A fake pg_dump stands in for the server.
func TestProtectFailedDumpNotCommitted(t *testing.T) {
	dir, home, _ := setup(t)
	dump := filepath.Join(dir, "pg_dump")
	script := func(exit int) {
		os.WriteFile(dump, fmt.Appendf(nil, "#!/bin/sh\nprintf 'PGDMP partial dump of %%s\\n' \"$*\"\nexit %d\n", exit), 0o755)
	}
	script(0)
	os.WriteFile(filepath.Join(home, "protect.yaml"), fmt.Appendf(nil,
		"datasets:\n  - name: land-db\n    source: {type: postgres, database: land, pg-dump: %s}\n    rpo: 1ns\n    class: C1-I1-A1\n", dump), 0o644)
	jobs := func(configChanged, logSize int) lines {
		return lines{
			"job agreements: ok: 0 agreements checked",
			"job inventory: ok: 2 dataset copies at the sites; no inventory declared (datasets: in policy.yaml), only data of unknown datasets is alerted on",
			fmt.Sprintf("job integrity: ok: verified (read data false): 0 damaged; home state 3 compared with 2 sites; log size %d; third locations: the other sites' signed states; 0 problems", logSize),
			fmt.Sprintf("job config: ok: %d configuration files changed", configChanged),
			"job host: ok: not configured: no daemon sites take host filings",
			"job updates: ok: not configured: no daemon sites",
			"job sla: ok: 2 sites probed, 2 up",
			"job compute: ok: not configured: no agreement reserves compute and no workloads are declared",
			"job location: ok: not configured: protect.yaml names no home position (schedule.location.from)",
		}
	}
	lagTable := lines{
		"DATASET                  SITE         LATEST                        LAG        RPO  STATE",
		rx(`land-db                  lu           ` + rxMinute + `:[0-9]{2} +[0-9]+s        1ns  PAST RPO`),
		rx(`land-db                  ch           ` + rxMinute + `:[0-9]{2} +[0-9]+s        1ns  PAST RPO`),
	}
	// The RPO of 1ns shows as 0s in the alert (cmd_protect.go rounds it down).
	alerts := lines{
		rx(`embassy: alert: land-db at site lu: lag [0-9]+s exceeds RPO 0s`),
		rx(`embassy: alert: land-db at site ch: lag [0-9]+s exceeds RPO 0s`),
	}
	expectRun(t, home, ExitOK, []string{"protect", "--once"},
		append(append(jobs(3, 8), rx(`snapshot [0-9a-f]{8} of land-db saved \(60 B\)`)), lagTable...), alerts)
	b, _ := os.ReadFile(filepath.Join(home, "alerts.jsonl"))
	firing := func(site string) rx {
		return rx(`\{"time":"` + rxTime + `","state":"firing","dataset":"land-db","site":"` + site + `","lag_seconds":[0-9.e-]+,"rpo_seconds":1e-9\}`)
	}
	wantLines(t, "alerts.jsonl", string(b), lines{firing("lu"), firing("ch")})
	script(1)
	// The diagnostic WARN repeats the error (internal/vault/protect.go), and
	// the fake pg_dump wrote nothing on stderr, hence "(exit status 1): ".
	expectRun(t, home, ExitError, []string{"protect", "--once"}, append(jobs(0, 25), lagTable...), append(lines{
		rx(`time=\S+ level=WARN msg="capture failed; snapshot not committed" dataset=land-db err="pg_dump land failed \(exit status 1\): "`)},
		append(alerts,
			"embassy: error: capture land-db: pg_dump land failed (exit status 1):  (snapshot not committed; the last good one stays the latest)",
			"embassy: hint: the previous snapshots of these datasets are intact; fix the source and run again")...))
	var snaps []map[string]any
	json.Unmarshal([]byte(mustRun(t, home, "snapshots", "land-db", "--json")), &snaps)
	if len(snaps) != 1 {
		t.Fatalf("got %d snapshots after a failed dump, want 1", len(snaps))
	}
	event := func(site string) lines {
		return lines{
			"    {",
			rx(`      "time": "` + rxTime + `",`),
			`      "type": "alert",`,
			rx(`      "home": "h[0-9a-f]{20}",`),
			`      "summary": "rpo firing: land-db at ` + site + `",`,
			`      "fields": {`,
			rx(`        "lag_seconds": [0-9.e-]+,`),
			`        "rpo_seconds": 1e-9`,
			"      }",
		}
	}
	lag := func(site string) lines {
		return lines{
			"    {",
			`      "dataset": "land-db",`,
			`      "site": "` + site + `",`,
			rx(`      "latest": "` + rxTime + `",`),
			rx(`      "snapshot": "[0-9a-f]{64}",`),
			rx(`      "lag_seconds": [0-9.e-]+,`),
			`      "rpo_seconds": 1e-9,`,
			`      "rpo_exceeded": true`,
		}
	}
	// two protect runs, each alerting at both sites
	status := lines{"{", `  "events": [`}
	for i, s := range []string{"lu", "ch", "lu", "ch"} {
		status = append(append(status, event(s)...), map[bool]string{true: "    }", false: "    },"}[i == 3])
	}
	status = append(append(append(append(append(status, "  ],", rx(`  "home": "h[0-9a-f]{20}",`), `  "lags": [`), lag("lu")...), "    },"), lag("ch")...),
		"    }",
		"  ],",
		`  "past_rpo": 2,`,
		`  "site_lag": [`,
		"    {",
		`      "site": "ch",`,
		`      "objects": 0,`,
		`      "bytes": 0`,
		"    },",
		"    {",
		`      "site": "lu",`,
		`      "objects": 0,`,
		`      "bytes": 0`,
		"    }",
		"  ],",
		rx(`  "time": "`+rxTime+`"`),
		"}")
	expectRun(t, home, ExitDamaged, []string{"status", "--json"}, status, nil)
}

// TestGameDay is the continuity game day: protect a registry to two sites,
// lose the home entirely, then complete a drill and a crisis operate session
// from the two sites and two custodian identities alone.
func TestGameDay(t *testing.T) {
	dir, home, ids := setup(t)
	src := filepath.Join(dir, "registry")
	if _, err := sample.Generate(src, sample.Options{Rows: 3000, Documents: 1, DocSize: 4096}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, "protect.yaml"), fmt.Appendf(nil,
		"datasets:\n  - name: population-register\n    source: {type: dir, path: %s}\n    on-change: true\n    rpo: 1h\n    class: C1-I1-A1\n", src), 0o644)
	var once struct {
		Lags []struct {
			Site     string  `json:"site"`
			LagSec   float64 `json:"lag_seconds"`
			Exceeded bool    `json:"rpo_exceeded"`
		} `json:"lags"`
	}
	json.Unmarshal([]byte(mustRun(t, home, "protect", "--once", "--json")), &once)
	if len(once.Lags) != 2 || once.Lags[0].Exceeded || once.Lags[0].LagSec < 0 {
		t.Fatalf("lags: %+v", once.Lags)
	}
	tokFile := filepath.Join(dir, "official.token")
	mustRun(t, home, "operate", "token", "issue", "--official", "registrar-1", "--ttl", "720h", "-o", tokFile)
	stopFile := filepath.Join(dir, "duty.token")
	mustRun(t, home, "operate", "token", "issue", "--official", "duty-officer", "--role", "deactivate", "--ttl", "24h", "-o", stopFile)
	person := firstKey(t, filepath.Join(src, sample.PopulationFile))
	parcel := firstKey(t, filepath.Join(src, sample.LandFile))

	fp := homeFingerprint(t, home)
	if err := os.RemoveAll(home); err != nil { // the home is gone, keys and all
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.yaml")
	os.WriteFile(plan, fmt.Appendf(nil, `name: game-day
sites:
  - {name: lu, url: %s, jurisdiction: LU}
  - {name: ch, url: %s, jurisdiction: CH}
rto: 10m
datasets: [{name: population-register, rpo: 24h}]
service:
  population: {dataset: population-register, path: population-register.csv}
  land: {dataset: population-register, path: land-register.csv}
probes:
  - {register: population, key: "%s"}
  - {register: land, key: "%s"}
`, filepath.Join(dir, "site-lu"), filepath.Join(dir, "site-ch"), person, parcel), 0o644)
	nohome := filepath.Join(dir, "nohome")

	report := filepath.Join(dir, "drill.json")
	expectRun(t, nohome, ExitOK, []string{"drill", plan, "--expect-home", fp, "--identity", ids[0], "--identity", ids[2], "--out", report}, lines{
		"drill game-day: PASS",
		rx(`  RTO [0-9]+\.[0-9]s \(target 600s\)`),
		rx(`  population-register: snapshot [0-9a-f]{12}, RPO achieved [0-9]+s \(target 86400s\)`),
		rx(`  signed report: ` + regexp.QuoteMeta(report) + ` \(sha256 [0-9a-f]{16}\)`),
	}, nil)
	mustRun(t, nohome, "drill", "verify", report)
	b, _ := os.ReadFile(report)
	os.WriteFile(report, []byte(strings.Replace(string(b), `"pass": true`, `"pass": false`, 1)), 0o644)
	if r := run(t, nohome, "", "drill", "verify", report); r.code != ExitDamaged {
		t.Fatalf("tampered report verified: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, nohome, "", "drill", plan, "--identity", ids[0], "--out", filepath.Join(dir, "d2.json")); r.code != ExitKey {
		t.Fatalf("drill with one custodian: exit %d %s", r.code, r.stderr)
	}

	opDir := filepath.Join(dir, "op")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		done <- func() result {
			var o, e strings.Builder
			code := Main(ctx, []string{"--home", nohome, "--progress", "never", "operate", plan, "--expect-home", fp, "--identity", ids[1], "--identity", ids[2],
				"--reason", "game day: home unreachable", "--listen", "127.0.0.1:0", "--dir", opDir}, strings.NewReader(""), &o, &e)
			return result{code, o.String(), e.String()}
		}()
	}()
	var addr string
	deadline := time.After(2 * time.Minute)
	for addr == "" {
		select {
		case r := <-done:
			t.Fatalf("operate exited early: %d\n%s%s", r.code, r.stdout, r.stderr)
		case <-deadline:
			cancel()
			t.Fatalf("operate wrote no listening address to %s in 2 minutes", filepath.Join(opDir, "addr"))
		case <-time.After(20 * time.Millisecond):
			b, _ := os.ReadFile(filepath.Join(opDir, "addr"))
			addr = string(b)
		}
	}
	tok, _ := os.ReadFile(tokFile)
	get := func(method, path, token string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := get("GET", "/v1/population/"+person, string(tok)); code != 200 || m["record"].(map[string]any)["personal_id"] != person {
		t.Fatalf("population lookup: %d %v", code, m)
	}
	if code, _ := get("GET", "/v1/land/"+parcel, string(tok)); code != 200 {
		t.Fatalf("land lookup: %d", code)
	}
	if code, _ := get("GET", "/v1/population/"+person, ""); code != 401 {
		t.Fatalf("lookup without token: %d, want 401", code)
	}
	if code, _ := get("POST", "/deactivate", string(tok)); code != 403 {
		t.Fatalf("deactivate with a lookup token: %d, want 403", code)
	}
	stop, _ := os.ReadFile(stopFile)
	if code, _ := get("GET", "/v1/land/"+parcel, string(stop)); code != 403 {
		t.Fatalf("lookup with a deactivate token: %d, want 403", code)
	}
	if code, _ := get("POST", "/deactivate", string(stop)); code != 202 {
		t.Fatalf("deactivate: %d", code)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("operate did not end within 2 minutes of /deactivate")
	}
	if r.code != ExitOK {
		t.Fatalf("operate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantLines(t, "operate", r.stdout, lines{
		rx(`crisis session [0-9a-f]{16} active: serving 1 dataset on http://` + regexp.QuoteMeta(addr) + ` \(restored in [0-9]+\.[0-9]s\)`),
		"  activation signed: " + filepath.Join(opDir, "activation.json"),
		rx(`crisis session [0-9a-f]{16} deactivated by duty-officer: 9 audited requests; signed report ` + regexp.QuoteMeta(filepath.Join(opDir, "deactivation.json"))),
	})
	wantLines(t, "operate stderr", r.stderr, nil)
	mustRun(t, nohome, "drill", "verify", filepath.Join(opDir, "activation.json"))
	expectRun(t, nohome, ExitOK, []string{"drill", "verify", "--json", filepath.Join(opDir, "deactivation.json")}, lines{
		"{",
		`  "body": {`,
		rx(`    "activated": "` + rxTime + `",`),
		rx(`    "activation_sha256": "[0-9a-f]{64}",`),
		rx(`    "audit_sha256": "[0-9a-f]{64}",`),
		rx(`    "deactivated": "` + rxTime + `",`),
		`    "deactivated_by": "duty-officer",`,
		rx(`    "home": "h[0-9a-f]{20}",`),
		`    "served": {`,
		`      "audit_lines": 9,`,
		`      "officials": {`,
		`        "duty-officer": 2,`,
		`        "registrar-1": 3`,
		"      },",
		`      "requests": {`,
		`        "deactivate/202": 1,`,
		`        "deactivate/403": 1,`,
		`        "land/200": 1,`,
		`        "land/403": 1,`,
		`        "population/200": 1,`,
		`        "population/401": 1`,
		"      }",
		"    },",
		rx(`    "session": "[0-9a-f]{16}"`),
		"  },",
		`  "endorsed": true,`,
		`  "epoch": 1,`,
		rx(`  "home": "h[0-9a-f]{20}",`),
		`  "home_bound": true,`,
		rx(`  "key": "[A-Za-z0-9+/]{43}=",`),
		`  "kind": "crisis-deactivation",`,
		`  "ok": true,`,
		rx(`  "root_key": "[A-Za-z0-9+/]{43}="`),
		"}",
	}, nil)
	audit, _ := os.ReadFile(filepath.Join(opDir, "audit.jsonl"))
	// substring: the audit file must not name the person: absence
	if strings.Contains(string(audit), person) || strings.Count(string(audit), "\n") < 4 {
		t.Fatalf("audit log holds the personal ID or misses lines:\n%s", audit)
	}
}
