package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
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
	if err == nil {
		t.Fatalf("%s: privileged listing not refused: %v", when, names)
	}
	wantErr(t, when, err, "maintenance list config: daemon: no approved access request of scope metadata for spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops: file one (POST /v1/access) and wait for the home's signed decision (403)")
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
	_, err = op.PushDecision(ctx, r1.ID, forged)
	wantErr(t, "forged decision", err, "POST /v1/access/R1/decision: daemon: decision refused: access decision not signed by the home's access key: note has no verifiable signatures (403)", r1.ID, "R1")
	refusedListing(t, op, "after a forged decision")

	// The home pulls the request and denies it; the denial reaches the daemon.
	first := indexOf(t, accessList(t, f, "--pull"), r1.ID)
	if first.Status != approval.Pending || first.Scope != "metadata" {
		t.Fatalf("pulled: %+v", first)
	}
	wantRun(t, "access deny", f.try("access", "deny", strconv.FormatUint(first.Index, 10), "--note", "no migration window agreed"), 0, lines{
		"Access request 4 at lu denied: entry 5",
		"The signed decision reached lu's daemon",
	}, nil)
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
	wantRun(t, "log --kind session", f.try("--json", "log", "--kind", "session").masked(r2.ID, "R2"), 0, text(`
[
  {
    "index": 8,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "X25519MLKEM768",
      "event": "login",
      "initiator": "host",
      "role": "operator"
    }
  },
  {
    "index": 9,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "privileged metadata list without an approved access request",
      "event": "denied",
      "initiator": "host",
      "role": "operator"
    }
  },
  {
    "index": 10,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "privileged metadata list without an approved access request",
      "event": "denied",
      "initiator": "host",
      "role": "operator"
    }
  },
  {
    "index": 11,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "access decision refused: access decision not signed by the home's access key: note has no verifiable signatures",
      "event": "denied",
      "initiator": "host",
      "role": "operator"
    }
  },
  {
    "index": 12,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "privileged metadata list without an approved access request",
      "event": "denied",
      "initiator": "host",
      "role": "operator"
    }
  },
  {
    "index": 13,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "privileged metadata list without an approved access request",
      "event": "denied",
      "initiator": "host",
      "role": "operator"
    }
  },
  {
    "index": 14,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "access R2 (HOST_INITIATED_SERVICE): metadata list config",
      "event": "privileged",
      "initiator": "host",
      "role": "operator"
    }
  }
]
`), nil)

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
	_, err = op.PushDecision(ctx, r3.ID, approvalOf2)
	wantErr(t, "replayed approval", err, "POST /v1/access/R3/decision: daemon: decision refused: the decision is for request R2, not R3 (403)", r2.ID, "R2", r3.ID, "R3")
	_, err = op.PushDecision(ctx, r1.ID, approvalOf2)
	wantErr(t, "approval pushed over a denial", err, "POST /v1/access/R1/decision: daemon: access request R1 is denied already (409)", r1.ID, "R1")

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
	_, err = opCH.PushDecision(ctx, rch.ID, approvalOf2)
	wantErr(t, "lu's approval at ch", err, `POST /v1/access/RCH/decision: daemon: decision refused: the decision is for site "lu", this is "ch" (403)`, rch.ID, "RCH")
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
	wantRun(t, "log --kind access.request", f.try("--json", "log", "--kind", "access.request").masked(r1.ID, "R1", r2.ID, "R2"), 0, text(`
[
  {
    "index": 4,
    "v": 1,
    "kind": "access.request",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "LU storage engineer",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "object": "list objects for the array migration",
    "reason": "HOST_INITIATED_SERVICE",
    "details": {
      "access": "privileged:metadata",
      "duration": "2h",
      "filed": "YYYY-MM-DDThh:mm:ssZ",
      "id": "R1",
      "requester": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
      "scope": "metadata",
      "via": "daemon"
    }
  },
  {
    "index": 6,
    "v": 1,
    "kind": "access.request",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "LU storage engineer",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "object": "list objects for the array migration",
    "reason": "HOST_INITIATED_SERVICE",
    "details": {
      "access": "privileged:metadata",
      "duration": "2h",
      "filed": "YYYY-MM-DDThh:mm:ssZ",
      "id": "R2",
      "requester": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
      "scope": "metadata",
      "via": "daemon"
    }
  }
]
`), nil)
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
	wantRun(t, "incident ack", f.try("incident", "ack", strconv.FormatUint(got[1].Index, 10), "--note", "badge revoked; attache informed"), 0, lines{"Acknowledged incident 5 at lu: entry 6"}, nil)
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
	_, err = op.PushIncidentAck(ctx, fire.ID, forged)
	wantErr(t, "forged acknowledgement", err, "POST /v1/incidents/FIRE/ack: daemon: acknowledgement refused: incident acknowledgement not signed by the home's access key: note has no verifiable signatures (403)", fire.ID, "FIRE")
	var kept []struct {
		ID  string `json:"id"`
		Ack []byte `json:"ack"`
	}
	if b, err := os.ReadFile(incidentsFile); err != nil || json.Unmarshal(b, &kept) != nil || len(kept) != 2 || len(kept[1].Ack) == 0 {
		t.Fatalf("the daemon's incidents file: %+v %v", kept, err)
	}
	_, err = op.PushIncidentAck(ctx, fire.ID, kept[1].Ack)
	wantErr(t, "replayed acknowledgement", err, "POST /v1/incidents/FIRE/ack: daemon: acknowledgement refused: the acknowledgement is for incident BADGE, not FIRE (403)", fire.ID, "FIRE", badge.ID, "BADGE")
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
	o, e, code := later(70 * time.Hour)
	wantRun(t, "incident list within the hours", runResult{code, o, e}.masked(), 0, lines{
		rx(`4  lu  physical  UPS fire in hall B: notified 30m\ds after it occurred; awaiting acknowledgement`),
		rx(`5  lu  security  badge cloned at door 3: notified 30m\ds after it occurred; acknowledged YYYY-MM-DD hh:mm`),
	}, nil)
	o, e, code = later(73 * time.Hour)
	wantRun(t, "incident list past the hours", runResult{code, o, e}.masked(), 3, lines{
		rx(`4  lu  physical  UPS fire in hall B: notified 30m\ds after it occurred; awaiting acknowledgement; ESCALATED: not acknowledged within 72h0m0s`),
		rx(`5  lu  security  badge cloned at door 3: notified 30m\ds after it occurred; acknowledged YYYY-MM-DD hh:mm`),
	}, nil)
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
	// substring: a webhook body (JSON with times and ids), not output: its kind and site
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
