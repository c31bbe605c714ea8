package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/netlab"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// Access approval and incident notification, played by a hostile host
// against the real embassy and embassyd binaries over mutual TLS
// (docs/threats/hostedge.md, "Access approval and incidents").

// pulledRequest is one line of 'embassy --json access list'.
type pulledRequest struct {
	Index  uint64 `json:"index"`
	ID     string `json:"id"`
	Status string `json:"status"`
	Scope  string `json:"scope"`
}

func accessList(t *testing.T, f *fixture, args ...string) []pulledRequest {
	t.Helper()
	var out []pulledRequest
	if err := json.Unmarshal([]byte(f.run(append([]string{"--json", "access", "list"}, args...)...)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func indexOf(t *testing.T, rs []pulledRequest, id string) pulledRequest {
	t.Helper()
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("request %s is not in the home's log: %+v", id, rs)
	return pulledRequest{}
}

// refusedListing asserts that the operator's privileged listing is refused
// for want of an approval.
func refusedListing(t *testing.T, op *remote.Backend, when string) {
	t.Helper()
	names, err := op.MaintenanceList(context.Background(), site.KindConfig)
	if err == nil || !strings.Contains(err.Error(), "no approved access request of scope metadata") {
		t.Fatalf("%s: privileged listing not refused: %v %v", when, names, err)
	}
}

// A host operator asks the daemon for the privileged metadata listing.
// It is refused before any request, while the request is pending, with a
// forged decision (a key of the home's name that is not the home's),
// after the home's denial, and with a replayed approval (another
// request's); the home's approval lets it through, the approval survives
// a daemon restart, and the home's log holds the request, the decision and
// the privileged session.
func TestHostileAccessWithoutApproval(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	vkey := strings.TrimSpace(f.run("access", "key"))
	accessFile := filepath.Join(f.dir, "lu-access.json")
	daemonArgs := []string{"--access-key", vkey, "--access-file", accessFile}
	startHostedgeDaemon(t, lu, daemonArgs...)
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	op := operatorClient(t, f, lu.addr)
	ctx := context.Background()

	refusedListing(t, op, "without a request")
	if _, err := op.RequestAccess(ctx, approval.Filing{Reason: "HOME_INITIATED_SUPPORT", Scope: "metadata", Duration: "1h", Who: "x", What: "y"}); err == nil {
		t.Fatal("the daemon took a request with a home-initiated reason")
	}
	filing := approval.Filing{Reason: "HOST_INITIATED_SERVICE", Scope: "metadata", Duration: "2h", Who: "LU storage engineer", What: "list objects for the array migration"}
	r1, err := op.RequestAccess(ctx, filing)
	if err != nil || r1.Status != approval.Pending || !strings.HasSuffix(r1.Requester, "/role/operator/ops") {
		t.Fatalf("request: %+v %v", r1, err)
	}
	refusedListing(t, op, "while pending")

	// A decision signed by a key with the home's key name, not the home's.
	var homeID string
	if i := strings.Index(vkey, "/access+"); i > 0 {
		homeID = vkey[:i]
	}
	skey, _, err := note.GenerateKey(rand.Reader, homeID+"/access")
	if err != nil {
		t.Fatal(err)
	}
	forger, _ := note.NewSigner(skey)
	forged, err := approval.Decision{Home: homeID, Site: "lu", Request: r1.ID, Requester: r1.Requester, Scope: "metadata", Approved: true,
		Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}.Sign(forger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.PushDecision(ctx, r1.ID, forged); err == nil || !strings.Contains(err.Error(), "not signed by the home's access key") {
		t.Fatalf("forged decision: %v", err)
	}
	refusedListing(t, op, "after a forged decision")

	// The home pulls the request and denies it; the denial reaches the daemon.
	first := indexOf(t, accessList(t, f, "--pull"), r1.ID)
	if first.Status != approval.Pending || first.Scope != "metadata" {
		t.Fatalf("pulled: %+v", first)
	}
	out := f.run("access", "deny", strconv.FormatUint(first.Index, 10), "--note", "no migration window agreed")
	if !strings.Contains(out, "reached lu's daemon") {
		t.Fatalf("deny:\n%s", out)
	}
	refusedListing(t, op, "after the denial")

	// A second request, approved: the listing goes through.
	r2, err := op.RequestAccess(ctx, filing)
	if err != nil {
		t.Fatal(err)
	}
	second := indexOf(t, accessList(t, f, "--pull"), r2.ID)
	f.run("access", "approve", strconv.FormatUint(second.Index, 10), "--note", "CHG-2291, attache present")
	names, err := op.MaintenanceList(ctx, site.KindConfig)
	if err != nil {
		t.Fatalf("approved listing refused: %v", err)
	}
	t.Logf("listing: %v", names)
	f.run("site", "events")
	if sessions := f.run("--json", "log", "--kind", "session"); !strings.Contains(sessions, "access "+r2.ID+" (HOST_INITIATED_SERVICE): metadata list config") {
		t.Fatalf("the privileged session is not in the home's log:\n%s", sessions)
	}

	// Replay: the approval of r2, read off the daemon's own file, pushed
	// for a third request, is refused.
	r3, err := op.RequestAccess(ctx, filing)
	if err != nil {
		t.Fatal(err)
	}
	var held []struct {
		ID       string `json:"id"`
		Decision []byte `json:"decision"`
	}
	b, err := os.ReadFile(accessFile)
	if err != nil || json.Unmarshal(b, &held) != nil {
		t.Fatalf("access file: %v\n%s", err, b)
	}
	var approvalOf2 []byte
	for _, h := range held {
		if h.ID == r2.ID {
			approvalOf2 = h.Decision
		}
	}
	if len(approvalOf2) == 0 {
		t.Fatalf("the daemon keeps no decision for %s:\n%s", r2.ID, b)
	}
	if _, err := op.PushDecision(ctx, r3.ID, approvalOf2); err == nil || !strings.Contains(err.Error(), "is for request") {
		t.Fatalf("replayed approval: %v", err)
	}
	if _, err := op.PushDecision(ctx, r1.ID, approvalOf2); err == nil || !strings.Contains(err.Error(), "denied already") {
		t.Fatalf("approval pushed over a denial: %v", err)
	}

	// ... and at another site's daemon (same home, same access key), for a
	// request of the same operator there.
	ch := f.issueSite("ch", "127.0.0.1")
	startHostedgeDaemon(t, ch, "--access-key", vkey)
	ops := filepath.Join(f.dir, "ops")
	opCH, err := remote.New(ctx, remote.Config{Host: ch.addr, ExpectSite: "ch",
		Files: pki.Files{CA: filepath.Join(ops, "ca.crt"), Cert: filepath.Join(ops, "ops.crt"), Key: filepath.Join(ops, "ops.key")}})
	if err != nil {
		t.Fatal(err)
	}
	defer opCH.Close()
	rch, err := opCH.RequestAccess(ctx, filing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opCH.PushDecision(ctx, rch.ID, approvalOf2); err == nil || !strings.Contains(err.Error(), `is for site "lu"`) {
		t.Fatalf("lu's approval at ch: %v", err)
	}
	refusedListing(t, opCH, "at another site with lu's approval")

	// The daemon restarts: the approval, re-verified from its signed bytes, holds.
	netlab.Kill(lu.cmd, 5*time.Second)
	lu.logLock.Lock()
	lu.log.Reset()
	lu.logLock.Unlock()
	startHostedgeDaemon(t, lu, daemonArgs...)
	op2 := operatorClient(t, f, lu.addr)
	if _, err := op2.MaintenanceList(ctx, site.KindConfig); err != nil {
		t.Fatalf("the approval did not survive the restart: %v", err)
	}
	rs, err := op2.AccessRequests(ctx)
	if err != nil || len(rs) != 3 {
		t.Fatalf("requests after the restart: %+v %v", rs, err)
	}
	for _, r := range rs {
		want := map[string]string{r1.ID: approval.Denied, r2.ID: approval.Approved, r3.ID: approval.Pending}[r.ID]
		if r.Status != want {
			t.Errorf("request %s is %s after the restart, want %s", r.ID, r.Status, want)
		}
	}

	// The log: both requests with their decisions, initiated by the home.
	var decisions []struct {
		Details map[string]string `json:"details"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "log", "--kind", "access.decision")), &decisions); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range decisions {
		if d.Details["initiator"] == "home" {
			got[d.Details["request"]] = d.Details["decision"]
		}
	}
	if got[strconv.FormatUint(first.Index, 10)] != approval.Denied || got[strconv.FormatUint(second.Index, 10)] != approval.Approved {
		t.Fatalf("decisions in the log: %v", got)
	}
	reqs := f.run("--json", "log", "--kind", "access.request")
	for _, id := range []string{r1.ID, r2.ID} {
		if !strings.Contains(reqs, id) {
			t.Errorf("request %s is not in the log:\n%s", id, reqs)
		}
	}
}

// Host personnel file two incidents at the daemon (a malformed one is
// refused); the home pulls them, each once, with its arrival time;
// the sending state acknowledges one, and the daemon shows it
// acknowledged (a forged or replayed acknowledgement is refused). With the clock moved past the
// agreement's 72 hours the other escalates: exit 3, an escalation entry
// in the log and one webhook alert, and not a second time.
func TestIncidentFiledAtDaemonReachesHome(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	vkey := strings.TrimSpace(f.run("access", "key"))
	incidentsFile := filepath.Join(f.dir, "lu-incidents.json")
	startHostedgeDaemon(t, lu, "--incidents-file", incidentsFile, "--access-key", vkey)
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	op := operatorClient(t, f, lu.addr)
	ctx := context.Background()

	occurred := time.Now().Add(-30 * time.Minute).UTC()
	fire, err := op.FileIncident(ctx, incident.HostFiling{Type: "physical", Reporter: "LU GITC duty officer", What: "UPS fire in hall B", Occurred: occurred})
	if err != nil {
		t.Fatal(err)
	}
	badge, err := op.FileIncident(ctx, incident.HostFiling{Type: "security", Reporter: "LU GITC SOC", What: "badge cloned at door 3", Occurred: occurred})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.FileIncident(ctx, incident.HostFiling{Type: "weather", Reporter: "x", What: "y", Occurred: occurred}); err == nil {
		t.Fatal("the daemon took an incident of an unknown type")
	}

	type listed struct {
		Index    uint64    `json:"index"`
		ID       string    `json:"id"`
		Site     string    `json:"site"`
		Notified time.Time `json:"notified"`
		Escal    bool      `json:"escalated"`
	}
	list := func(args ...string) []listed {
		var out []listed
		if err := json.Unmarshal([]byte(f.run(append([]string{"--json", "incident", "list"}, args...)...)), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := time.Now().UTC()
	got := list("--pull")
	if len(got) != 2 || got[0].ID != fire.ID || got[1].ID != badge.ID || got[0].Site != "lu" || got[0].Notified.Before(before.Add(-time.Second)) {
		t.Fatalf("pulled: %+v", got)
	}
	if again := list("--pull"); len(again) != 2 {
		t.Fatalf("a second pull recorded them again: %+v", again)
	}
	out := f.run("incident", "ack", strconv.FormatUint(got[1].Index, 10), "--note", "badge revoked; attache informed")
	if !strings.Contains(out, "Acknowledged incident "+strconv.FormatUint(got[1].Index, 10)) {
		t.Fatalf("ack:\n%s", out)
	}
	// The acknowledgement reached the daemon: the host sees it there.
	held, err := op.Incidents(ctx)
	if err != nil || len(held) != 2 || held[1].ID != badge.ID || held[1].Acknowledged.IsZero() || held[0].ID != fire.ID || !held[0].Acknowledged.IsZero() {
		t.Fatalf("at the daemon after the ack: %+v %v", held, err)
	}
	// A host forging the home's acknowledgement of the fire (a key of the
	// home's key name), or replaying the badge's acknowledgement for it,
	// is refused; the fire stays unacknowledged at the daemon.
	homeID, _, _ := strings.Cut(vkey, "/access+")
	skey, _, err := note.GenerateKey(rand.Reader, homeID+"/access")
	if err != nil {
		t.Fatal(err)
	}
	forger, _ := note.NewSigner(skey)
	forged, err := incident.Ack{Home: homeID, Site: "lu", Incident: fire.ID, At: time.Now().UTC().Truncate(time.Second)}.Sign(forger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.PushIncidentAck(ctx, fire.ID, forged); err == nil || !strings.Contains(err.Error(), "not signed by the home's access key") {
		t.Fatalf("forged acknowledgement: %v", err)
	}
	var kept []struct {
		ID  string `json:"id"`
		Ack []byte `json:"ack"`
	}
	if b, err := os.ReadFile(incidentsFile); err != nil || json.Unmarshal(b, &kept) != nil || len(kept) != 2 || len(kept[1].Ack) == 0 {
		t.Fatalf("the daemon's incidents file: %+v %v", kept, err)
	}
	if _, err := op.PushIncidentAck(ctx, fire.ID, kept[1].Ack); err == nil || !strings.Contains(err.Error(), "is for incident "+badge.ID) {
		t.Fatalf("replayed acknowledgement: %v", err)
	}
	if held, err := op.Incidents(ctx); err != nil || !held[0].Acknowledged.IsZero() {
		t.Fatalf("the fire shows acknowledged: %+v %v", held, err)
	}

	// The escalation route: a webhook on loopback.
	var mu sync.Mutex
	var hooks []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	os.WriteFile(filepath.Join(f.home, "hook.secret"), []byte("0123456789abcdef-secret"), 0o600)
	os.WriteFile(filepath.Join(f.home, "watch.yaml"), []byte("webhooks:\n  - url: "+hook.URL+"\n    secret_file: hook.secret\n"), 0o600)

	later := func(d time.Duration) (string, string, int) {
		c := exec.Command(clockBinary(t), "--home", f.home, "--progress", "never", "incident", "list")
		c.Env = append(os.Environ(), "EMBASSY_HOME=", "EMBASSY_NOW="+time.Now().Add(d).UTC().Format(time.RFC3339))
		var o, e strings.Builder
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}
	if o, e, code := later(70 * time.Hour); code != 0 || strings.Contains(o, "ESCALATED") {
		t.Fatalf("within the hours: exit %d\n%s%s", code, o, e)
	}
	o, e, code := later(73 * time.Hour)
	fireLine := fmt.Sprintf("%d  lu  physical  UPS fire in hall B: ", got[0].Index)
	if code != 3 || !strings.Contains(o, fireLine) || !strings.Contains(o, "ESCALATED: not acknowledged within 72h0m0s") || strings.Count(o, "ESCALATED") != 1 {
		t.Fatalf("past the hours: exit %d\n%s%s", code, o, e)
	}
	if _, _, code := later(74 * time.Hour); code != 3 {
		t.Fatalf("second look: exit %d", code)
	}
	mu.Lock()
	n := len(hooks)
	first := ""
	if n > 0 {
		first = hooks[0]
	}
	mu.Unlock()
	if n != 1 || !strings.Contains(first, `"kind":"incident-unacknowledged"`) || !strings.Contains(first, `"site":"lu"`) {
		t.Fatalf("%d webhook alerts, want 1 for lu:\n%s", n, first)
	}
	var escal []struct {
		Site    string            `json:"site"`
		Details map[string]string `json:"details"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "log", "--kind", "incident.escalation")), &escal); err != nil {
		t.Fatal(err)
	}
	if len(escal) != 1 || escal[0].Details["filed"] != strconv.FormatUint(got[0].Index, 10) || escal[0].Details["initiator"] != "home" {
		t.Fatalf("escalation entries: %+v", escal)
	}
}
