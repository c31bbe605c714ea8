package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/vault"
)

// stoppableServe runs 'embassy serve' for site name like startServe and
// returns its address and a function that stops it (and waits).
func stoppableServe(t *testing.T, dir, ids, name string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args := []string{"--home", filepath.Join(dir, "host-side"), "--log-level", "info", "serve", "--listen", "127.0.0.1:0",
		"--store", filepath.Join(dir, name+"-store"), "--create",
		"--ca", filepath.Join(ids, "ca.crt"), "--cert", filepath.Join(ids, name+".crt"), "--key", filepath.Join(ids, name+".key")}
	w := &addrWatcher{daemon: make(chan string, 1), witness: make(chan string, 1)}
	go func() {
		var out strings.Builder
		done <- Main(ctx, args, strings.NewReader(""), &out, w)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(stop)
	select {
	case addr := <-w.daemon:
		return addr, stop
	case code := <-done:
		t.Fatalf("serve exited %d before serving:\n%s", code, w.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not log its address within 60s:\n%s", w.String())
	}
	return "", stop
}

// TestRequirement26SLAMonitoring: "an injected outage shows in the monthly
// SLA report". The home probes a real daemon site, the daemon is stopped
// (the outage), the next probe fails; the November report names the
// outage from that probe, breaches the agreed availability (exit 3), is
// signed with the home's log key (verify passes, an altered copy fails),
// logged, and shown by assess.
func TestRequirement26SLAMonitoring(t *testing.T) {
	t.Setenv("EMBASSY_NOW", "2026-11-02T00:00:00Z")
	dir, homeDir, _ := setup(t)
	mustRun(t, homeDir, "pki", "init")
	ids := filepath.Join(dir, "lu-ids")
	mustRun(t, homeDir, "pki", "issue", "--role", "site", "--name", "lu-1", "--host", "127.0.0.1", "-o", ids)
	sKey, sPub := demoKey(t, dir, "sending")
	hKey, hPub := demoKey(t, dir, "host")
	src, err := os.ReadFile(filepath.Join(examplesDir, "agreements", "ee-lu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ag := filepath.Join(dir, "ee-lu.yaml")
	os.WriteFile(ag, []byte(strings.Replace(strings.Replace(string(src), "SENDING_KEY", sPub, 1), "HOST_KEY", hPub, 1)+"sla:\n  availability-percent: 99.9\n"), 0o644)
	mustRun(t, homeDir, "agreement", "sign", ag, "--key", sKey, "--role", "sending")
	mustRun(t, homeDir, "agreement", "sign", ag, "--key", hKey, "--role", "host")
	mustRun(t, homeDir, "agreement", "add", ag)
	addr, stop := stoppableServe(t, dir, ids, "lu-1")
	mustRun(t, homeDir, "site", "add", "lu-1", "--url", "embassy://"+addr, "--jurisdiction", "LU", "--agreement", "ee-lu")
	expectRun(t, homeDir, ExitOK, []string{"sla", "probe"}, lines{"lu: up", "ch: up", "lu-1: up"}, nil)
	stop() // the outage
	t.Setenv("EMBASSY_NOW", "2026-11-29T00:00:00Z")
	refused := `connect to daemon ` + regexp.QuoteMeta(addr) + `: Get "https://` + regexp.QuoteMeta(addr) + `/v1/properties": dial tcp ` + regexp.QuoteMeta(addr) + `: connect: connection refused`
	expectRun(t, homeDir, ExitOK, []string{"sla", "probe"}, lines{"lu: up", "ch: up", rx(`lu-1: DOWN: ` + refused)}, nil)
	t.Setenv("EMBASSY_NOW", "2026-12-01T08:00:00Z")
	expectRun(t, homeDir, ExitUsage, []string{"sla", "report"}, nil, lines{
		"embassy: error: give --month YYYY-MM, e.g. --month 2026-11",
		"embassy: hint: see 'embassy help' or add --help to the command",
	})
	out := mustRunCode(t, homeDir, ExitDamaged, "--json", "sla", "report", "--month", "2026-11")
	var rs []vault.SLAResult
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	rep := rs[0].Report
	a := rep.Availability[0]
	// Measured from Nov 2 to Dec 1: down from Nov 29, 2 of 29 days.
	if a.Site != "lu-1" || a.Probes != 2 || len(a.Outages) != 1 || a.Outages[0].From.Format(time.RFC3339) != "2026-11-29T00:00:00Z" || a.Met {
		t.Fatalf("availability %+v", a)
	}
	if a.Percent < 93.1 || a.Percent > 93.2 || rep.Terms.AvailabilityPercent != 99.9 {
		t.Fatalf("report %+v", rep)
	}
	wantLines(t, "breaches", strings.Join(rep.Breaches, "\n")+"\n", lines{"site lu-1: available 93.103% of 2026-11, below the agreed 99.9% (1 outage)"})
	expectRun(t, homeDir, ExitOK, []string{"sla", "verify", rs[0].File}, lines{
		"agreement ee-lu, 2026-11 (2026-11-01 to 2026-12-01T00:00:00Z): 1 breach; signed report " + rs[0].File,
		"  lu-1: available 93.103% (agreed 99.9%), 2 probes, 1 outage",
		rx(`    outage 2026-11-29T00:00:00Z to 2026-12-01T00:00:00Z: ` + refused),
		"  0 datasets against the recovery point, 0 drills, 0 incidents, 0 disclosures",
		"  BREACH: site lu-1: available 93.103% of 2026-11, below the agreed 99.9% (1 outage)",
	}, nil)
	b, _ := os.ReadFile(rs[0].File)
	forged := filepath.Join(dir, "forged.note")
	os.WriteFile(forged, []byte(strings.Replace(string(b), "93.10", "99.99", 1)), 0o644)
	expectRun(t, homeDir, ExitDamaged, []string{"sla", "verify", forged}, nil, lines{
		rx(`embassy: error: the SLA report does not verify with this home's log key: invalid signature for key digital-embassy\.invalid/h[0-9a-f]{20}/audit\+[0-9a-f]{8}`),
		"embassy: hint: the report was altered, or signed by another home",
	})
	wantLines(t, "log", homeIDs(mustRun(t, homeDir, "--json", "log", "--kind", vault.KindSLAReport)), text(`
[
  {
    "index": 5,
    "v": 1,
    "kind": "sla.report",
    "time": "2026-12-01T08:00:00Z",
    "actor": "home",
    "home": "HOME",
    "object": "`+rs[0].SHA256+`",
    "details": {
      "agreement": "ee-lu",
      "availability": "lu-1=93.103",
      "breach": "site lu-1: available 93.103% of 2026-11, below the agreed 99.9% (1 outage)",
      "breaches": "1",
      "disclosures": "0",
      "incidents": "0",
      "month": "2026-11"
    }
  }
]
`))
	st, ev := requirement(t, homeDir, 26)
	wantLines(t, "requirement 26", st+"\n"+ev+"\n", lines{
		"violated",
		"agreement ee-lu, 2026-11: signed report " + rs[0].SHA256[:12] + ", availability lu-1=93.103, 1 breach: site lu-1: available 93.103% of 2026-11, below the agreed 99.9% (1 outage)",
	})
}
