package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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
	r := run(t, home, "", "protect", "--once")
	if r.code != 0 || !strings.Contains(r.stderr, "embassy: alert: land-db at site lu") {
		t.Fatalf("good dump: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "alerts.jsonl")); !strings.Contains(string(b), `"state":"firing"`) {
		t.Fatalf("alerts.jsonl: %s", b)
	}
	script(1)
	r = run(t, home, "", "protect", "--once")
	if r.code == 0 || !strings.Contains(r.stderr, "not committed") {
		t.Fatalf("failed dump: exit %d\n%s", r.code, r.stderr)
	}
	var snaps []map[string]any
	json.Unmarshal([]byte(mustRun(t, home, "snapshots", "land-db", "--json")), &snaps)
	if len(snaps) != 1 {
		t.Fatalf("got %d snapshots after a failed dump, want 1", len(snaps))
	}
	r = run(t, home, "", "status", "--json")
	if r.code != ExitDamaged || !strings.Contains(r.stdout, `"rpo_exceeded": true`) {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
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
	out := mustRun(t, nohome, "drill", plan, "--expect-home", fp, "--identity", ids[0], "--identity", ids[2], "--out", report)
	if !strings.Contains(out, "PASS") {
		t.Fatalf("drill:\n%s", out)
	}
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
	if r.code != 0 || !strings.Contains(r.stdout, "deactivated by duty-officer") {
		t.Fatalf("operate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustRun(t, nohome, "drill", "verify", filepath.Join(opDir, "activation.json"))
	out = mustRun(t, nohome, "drill", "verify", "--json", filepath.Join(opDir, "deactivation.json"))
	if !strings.Contains(out, `"population/200": 1`) || !strings.Contains(out, `"population/401": 1`) {
		t.Fatalf("deactivation report:\n%s", out)
	}
	audit, _ := os.ReadFile(filepath.Join(opDir, "audit.jsonl"))
	if strings.Contains(string(audit), person) || strings.Count(string(audit), "\n") < 4 {
		t.Fatalf("audit log holds the personal ID or misses lines:\n%s", audit)
	}
}
