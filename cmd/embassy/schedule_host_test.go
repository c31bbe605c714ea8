package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/incident"
)

// TestProtectRunsHostChecks (issue 18 #16, #22, #23): the real 'embassy
// protect --once' runs the host-facing checks with nobody typing them. The
// host runs a build of embassyd the sending state never approved and has
// filed an incident at the daemon: the run alerts on the build (naming
// the site and its digest, logged once) and brings the incident home; a
// run 73 hours later (the test-clock binary) escalates the unacknowledged
// incident past the agreement's 72 hours: one escalation entry, one
// webhook alert, and not again on the next run.
func TestProtectRunsHostChecks(t *testing.T) {
	t.Parallel() // waits on the daemon more than on CPU
	f := newFixture(t)
	f.run("pki", "init")
	f.run("update", "approve", "--artifact", "embassyd", "--binary", embassyd(t), "--until", "30d")

	vendor := hostileBuild(t, f.dir)
	vendorDigest := fileSHA256(t, vendor)
	lu := f.issueSite("lu", "127.0.0.1")
	// $0 is the approved binary's path, dropped: the host runs its own build.
	lu.wrap = []string{"sh", "-c", `exec "` + vendor + `" "$@" --incidents-file "` + filepath.Join(f.dir, "lu-incidents.json") + `"`}
	lu.start()
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	op := operatorClient(t, f, lu.addr)
	_, err := op.FileIncident(context.Background(), incident.HostFiling{Type: "physical", Reporter: "LU GITC duty officer",
		What: "UPS fire in hall B", Occurred: time.Now().Add(-30 * time.Minute).UTC()})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var hooks []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	writeFile(t, filepath.Join(f.home, "hook.secret"), "0123456789abcdef-secret")
	writeFile(t, filepath.Join(f.home, "watch.yaml"), "webhooks:\n  - url: "+hook.URL+"\n    secret_file: hook.secret\n")
	writeFile(t, filepath.Join(f.home, "protect.yaml"), "poll: 100ms\ndatasets: []\n")

	r := f.try("protect", "--once")
	wantRun(t, "protect --once with an unapproved daemon build", r, 3, lines{
		"job agreements: ok: 0 agreements checked",
		"job inventory: ok: 0 dataset copies at the sites; no inventory declared (datasets: in policy.yaml), only data of unknown datasets is alerted on",
		rx(`job integrity: ok: verified \(read data false\): 0 damaged; home state 1 compared with 3 sites; log size \d+; third locations: the other sites' signed states; 0 problems`),
		"job config: ok: 4 configuration files changed",
		"job host: ok: 0 new access requests, 0 pending, 0 decisions pushed; 1 new incident, 0 escalated",
		"job updates: ALERT: 1 daemon build checked: lu: unapproved",
		"job sla: ok: 3 sites probed, 3 up",
		"job compute: ok: not configured: no agreement reserves compute and no workloads are declared",
		"job location: ok: not configured: protect.yaml names no home position (schedule.location.from)",
	}, lines{
		"embassy: alert: update-unapproved: site lu runs an unapproved embassyd build: no update approval covers it: approve it with 'embassy update approve --artifact embassyd --digest " + vendorDigest + " --until DATE', or restore the approved build",
	})
	if a := f.logKind("update.alert"); len(a) != 1 || a[0].Site != "lu" || a[0].Object != vendorDigest || a[0].Reason != "unapproved" {
		t.Fatalf("update.alert entries: %+v", a)
	}
	if in := f.logKind("incident"); len(in) != 1 || in[0].Site != "lu" || in[0].Object != "UPS fire in hall B" {
		t.Fatalf("incident entries after the host job: %+v", in)
	}
	if e := f.logKind("incident.escalation"); len(e) != 0 {
		t.Fatalf("escalated within the hours: %+v", e)
	}
	// Again at once: the same build is not alerted twice.
	r = f.try("protect", "--once")
	wantRun(t, "protect --once again", r, 3, lines{
		"job agreements: ok: 0 agreements checked",
		"job inventory: ok: 0 dataset copies at the sites; no inventory declared (datasets: in policy.yaml), only data of unknown datasets is alerted on",
		rx(`job integrity: ok: verified \(read data false\): 0 damaged; home state 1 compared with 3 sites; log size \d+; third locations: the other sites' signed states; 0 problems`),
		"job config: ok: 0 configuration files changed",
		"job host: ok: 0 new access requests, 0 pending, 0 decisions pushed; 0 new incidents, 0 escalated",
		"job updates: ALERT: 1 daemon build checked: lu: unapproved",
		"job sla: ok: 3 sites probed, 3 up",
		"job compute: ok: not configured: no agreement reserves compute and no workloads are declared",
		"job location: ok: not configured: protect.yaml names no home position (schedule.location.from)",
	}, nil)

	later := time.Now().Add(73 * time.Hour).UTC().Format(time.RFC3339)
	r = f.at(later, "protect", "--once")
	wantRun(t, "protect --once 73 hours on", r, 3, lines{
		"job agreements: ok: 0 agreements checked",
		"job inventory: ok: 0 dataset copies at the sites; no inventory declared (datasets: in policy.yaml), only data of unknown datasets is alerted on",
		rx(`job integrity: ok: verified \(read data false\): 0 damaged; home state 1 compared with 3 sites; log size \d+; third locations: the other sites' signed states; 0 problems`),
		"job config: ok: 0 configuration files changed",
		"job host: ALERT: 0 new access requests, 0 pending, 0 decisions pushed; 0 new incidents, 1 escalated",
		"job updates: ALERT: 1 daemon build checked: lu: unapproved",
		"job sla: ok: 3 sites probed, 3 up",
		"job compute: ok: not configured: no agreement reserves compute and no workloads are declared",
		"job location: ok: not configured: protect.yaml names no home position (schedule.location.from)",
	}, nil)
	f.at(time.Now().Add(74*time.Hour).UTC().Format(time.RFC3339), "protect", "--once")
	if e := f.logKind("incident.escalation"); len(e) != 1 || e[0].Site != "lu" {
		t.Fatalf("escalation entries: %+v", e)
	}
	mu.Lock()
	defer mu.Unlock()
	escalations := 0
	for _, h := range hooks {
		// substring: webhook bodies (JSON with times and ids), not output: kind and site
		if strings.Contains(h, `"kind":"incident-unacknowledged"`) && strings.Contains(h, `"site":"lu"`) {
			escalations++
		}
	}
	if escalations != 1 {
		t.Fatalf("%d escalation webhooks, want 1:\n%s", escalations, strings.Join(hooks, "\n"))
	}
	if _, err := os.Stat(filepath.Join(f.home, "sla", "probes.jsonl")); err != nil {
		t.Fatalf("the SLA job recorded no probes: %v", err)
	}
}

// TestProtectLocatesDaemonSites (issue 18 #8): with protect.yaml naming
// the home's position, 'embassy protect --once' gathers signed location
// evidence of the daemon site: a daemon declaring Luxembourg that answers
// Tallinn in under a millisecond is contradicted, alerted naming the
// site, and the evidence is in the log; without the position the job
// says it is not configured and nothing is measured.
func TestProtectLocatesDaemonSites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run("pki", "init")
	f.run("log")
	lu := f.issueSite("lu", "127.0.0.1")
	startHostedgeDaemon(t, lu, "--location", luxembourgAt, "--place", "Luxembourg", "--jurisdiction", "LU")
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	quiet := "  host: {off: true}\n  updates: {off: true}\n  sla: {off: true}\n  compute: {off: true}\n"

	writeFile(t, filepath.Join(f.home, "protect.yaml"), "datasets: []\nschedule:\n"+quiet)
	r := f.try("protect", "--once")
	wantRun(t, "protect --once without a home position", r, 0, lines{
		"job agreements: ok: 0 agreements checked",
		"job inventory: ok: 0 dataset copies at the sites; no inventory declared (datasets: in policy.yaml), only data of unknown datasets is alerted on",
		rx(`job integrity: ok: verified \(read data false\): 0 damaged; home state 1 compared with 3 sites; log size \d+; third locations: the other sites' signed states; 0 problems`),
		"job config: ok: 3 configuration files changed",
		"job location: ok: not configured: protect.yaml names no home position (schedule.location.from)",
	}, nil)
	if e := f.logKind("site.locate"); len(e) != 0 {
		t.Fatalf("located without a position: %+v", e)
	}

	writeFile(t, filepath.Join(f.home, "protect.yaml"), "datasets: []\nschedule:\n"+quiet+"  location: {from: \""+tallinnAt+"\"}\n")
	os.Remove(filepath.Join(f.home, "schedule", "state.json")) // the location job is due again at once
	r = f.try("protect", "--once")
	wantRun(t, "protect --once locating a site that lies about its position", r.masked(), 3, lines{
		"job agreements: ok: 0 agreements checked",
		"job inventory: ok: 0 dataset copies at the sites; no inventory declared (datasets: in policy.yaml), only data of unknown datasets is alerted on",
		rx(`job integrity: ok: verified \(read data false\): 0 damaged; home state 1 compared with 3 sites; log size \d+; third locations: the other sites' signed states; 0 problems`),
		"job config: ok: 1 configuration file changed",
		"job location: ALERT: 1 daemon site located: lu: failed",
	}, lines{
		rx(`embassy: alert: location-check-failed: site lu: location evidence: location contradicted: home hHHHHHHHHHHHHHHHHHHHH answered in [0-9.]+[µm]s: the responder is at most \d+ km away even at the speed of light, but the declared position is 1614 km away \('embassy site locate lu --from 59\.4370,24\.7536' shows the detail\)`),
	})
	if e := f.logKind("site.locate"); len(e) != 1 || e[0].Site != "lu" {
		t.Fatalf("site.locate entries: %+v", e)
	}
}
