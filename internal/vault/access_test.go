package vault

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// fakeDesk is a daemon's access and incident desk in memory: it holds
// requests and incidents as a daemon returns them and keeps the decisions
// pushed to it.
type fakeDesk struct {
	nopClose
	mu       sync.Mutex
	reqs     []approval.HostRequest
	incs     []incident.HostRecord
	pushed   map[string][]byte
	failPush bool
}

func (d *fakeDesk) AccessRequests(context.Context) ([]approval.HostRequest, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]approval.HostRequest(nil), d.reqs...), nil
}

func (d *fakeDesk) PushDecision(_ context.Context, id string, msg []byte) (approval.HostRequest, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failPush {
		return approval.HostRequest{}, errors.New("daemon unreachable")
	}
	if d.pushed == nil {
		d.pushed = map[string][]byte{}
	}
	d.pushed[id] = msg
	for i := range d.reqs {
		if d.reqs[i].ID == id {
			d.reqs[i].Status = approval.Approved // what it shows no longer matters to the test
			return d.reqs[i], nil
		}
	}
	return approval.HostRequest{}, errors.New("no such request")
}

func (d *fakeDesk) PushIncidentAck(_ context.Context, id string, msg []byte) (incident.HostRecord, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failPush {
		return incident.HostRecord{}, errors.New("daemon unreachable")
	}
	if d.pushed == nil {
		d.pushed = map[string][]byte{}
	}
	for i := range d.incs {
		if d.incs[i].ID == id {
			d.pushed[id] = msg
			d.incs[i].Acknowledged = time.Now()
			return d.incs[i], nil
		}
	}
	return incident.HostRecord{}, errors.New("no such incident")
}

func (d *fakeDesk) Incidents(context.Context) ([]incident.HostRecord, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]incident.HostRecord(nil), d.incs...), nil
}

// deskVault is a vault whose sites are fake daemons (one desk per site).
func deskVault(t *testing.T, now *time.Time, sites ...string) (*Vault, map[string]*fakeDesk) {
	t.Helper()
	dir, o := newVault(t, sites...)
	desks := map[string]*fakeDesk{}
	inner := o.OpenSite
	o.Clock = func() time.Time { return *now }
	o.OpenSite = func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error) {
		b, err := inner(ctx, sc, create)
		if err != nil {
			return nil, err
		}
		if d := desks[sc.Name]; d != nil {
			d.nopClose = b.(nopClose)
			return d, nil
		}
		return b, nil
	}
	for _, s := range sites {
		name, _, _ := strings.Cut(s, "=")
		desks[name] = &fakeDesk{}
	}
	return open(t, dir, o), desks
}

const idA, idB, idC = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210", "00000000000000000000000000000001"

func hostReq(id, reason string) approval.HostRequest {
	return approval.HostRequest{ID: id, Reason: reason, Scope: "metadata", Duration: "2h", Who: "LU storage engineer",
		What: "list objects for the array migration", Requester: "home-x/role/operator/ops", Filed: testNow.Add(-time.Hour), Status: approval.Pending}
}

// TestAccessDecisionsAtHome (issue 10): the vault decides what the CLI
// used to: a request is pending until decided, a reason code under
// auto-deny is denied at once, the first decision stands, unknown
// indexes and missing notes are usage errors.
func TestAccessDecisionsAtHome(t *testing.T) {
	now := testNow
	v, _ := deskVault(t, &now, "lu=LU")
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(v.Home.Dir, "policy.yaml"), []byte("auto-deny: [HOST_INITIATED_REVIEW]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := v.RequestAccess(ctx, approval.Request{Site: "lu", Reason: "host_initiated_service", Access: "support", Who: "vendor", What: "firmware"})
	if err != nil || res.Status != approval.Pending || res.Auto || res.Reason != tlog.ReasonHostService {
		t.Fatalf("request: %+v %v", res, err)
	}
	denied, err := v.RequestAccess(ctx, approval.Request{Site: "lu", Reason: tlog.ReasonHostReview, Access: "support", Who: "regulator", What: "review"})
	if err != nil || !denied.Auto || denied.Status != approval.Denied || denied.Decision == 0 {
		t.Fatalf("auto-deny: %+v %v", denied, err)
	}
	for _, bad := range []approval.Request{{Site: "xx", Reason: tlog.ReasonHostService, Who: "a", What: "b"}, {Site: "lu", Reason: "HOME_INITIATED_SUPPORT", Who: "a", What: "b"}} {
		if _, err := v.RequestAccess(ctx, bad); hint.CodeOf(err) != hint.CodeUsage {
			t.Errorf("request %+v: %v, want a usage error", bad, err)
		}
	}
	if _, err := v.DecideAccess(ctx, res.Index, true, " "); hint.CodeOf(err) != hint.CodeUsage {
		t.Errorf("decision without a note: %v", err)
	}
	ok, err := v.DecideAccess(ctx, res.Index, true, "CHG-1")
	if err != nil || ok.Status != approval.Approved || ok.Pushed || ok.PushError != "" {
		t.Fatalf("approve: %+v %v", ok, err)
	}
	if _, err := v.DecideAccess(ctx, res.Index, false, "again"); err == nil || !strings.Contains(err.Error(), "approved already") {
		t.Errorf("second decision: %v", err)
	}
	if _, err := v.DecideAccess(ctx, 999, false, "x"); hint.CodeOf(err) != hint.CodeUsage {
		t.Errorf("unknown index: %v", err)
	}
	st, err := v.AccessRequests(ctx)
	if err != nil || len(st) != 2 || st[0].Status != approval.Approved || st[1].Status != approval.Denied || !st[1].Auto {
		t.Fatalf("states: %+v %v", st, err)
	}
	if !v.AccessApproved(ctx, "lu", res.Index) || v.AccessApproved(ctx, "lu", denied.Index) {
		t.Error("AccessApproved disagrees with the log")
	}
}

// TestPullAccessSignsAndPushes (requirement 22): requests filed at a
// daemon come into the log once, with their id, scope and requester; a
// reason under auto-deny is denied and the signed denial pushed; a
// malformed request is an unexplained host session; a decision is signed
// with the home's access key, bound to home, site, request, requester,
// scope and expiry, and pushed; one that could not be pushed is pushed by
// the next pull.
func TestPullAccessSignsAndPushes(t *testing.T) {
	now := testNow
	v, desks := deskVault(t, &now, "lu=LU")
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(v.Home.Dir, "policy.yaml"), []byte("auto-deny: [HOST_INITIATED_REVIEW]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lu := desks["lu"]
	bad := hostReq("not-an-id", tlog.ReasonHostService)
	lu.reqs = []approval.HostRequest{hostReq(idA, tlog.ReasonHostService), hostReq(idB, tlog.ReasonHostReview), bad}
	p, err := v.PullAccess(ctx)
	if err != nil || len(p.New) != 2 || p.Invalid != 1 || len(p.Errors) != 0 {
		t.Fatalf("pull: %+v %v", p, err)
	}
	if p.New[0].Status != approval.Pending || !p.New[1].Auto || !p.New[1].Pushed {
		t.Fatalf("pulled: %+v", p.New)
	}
	_, vkey, err := v.AccessKey()
	if err != nil {
		t.Fatal(err)
	}
	ver, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	d, err := approval.OpenDecision(lu.pushed[idB], ver)
	if err != nil || d.Approved || d.Request != idB || d.Site != "lu" || d.Home != v.Home.Config.Home {
		t.Fatalf("auto-denial pushed: %+v %v", d, err)
	}
	again, err := v.PullAccess(ctx)
	if err != nil || len(again.New) != 0 || len(again.Pushed) != 0 {
		t.Fatalf("second pull recorded or pushed again: %+v %v", again, err)
	}

	lu.failPush = true
	now = testNow.Add(30 * time.Minute)
	res, err := v.DecideAccess(ctx, p.New[0].Index, true, "CHG-7, attache present")
	if err != nil || res.Pushed || res.PushError == "" {
		t.Fatalf("approve with the daemon down: %+v %v", res, err)
	}
	lu.failPush = false
	lu.reqs[0].Status = approval.Pending
	re, err := v.PullAccess(ctx)
	if err != nil || len(re.Pushed) != 1 || !re.Pushed[0].Pushed {
		t.Fatalf("re-push: %+v %v", re, err)
	}
	d, err = approval.OpenDecision(lu.pushed[idA], ver)
	want := approval.Decision{Home: v.Home.Config.Home, Site: "lu", Request: idA, Requester: "home-x/role/operator/ops", Scope: "metadata",
		Approved: true, Expires: now.Add(2 * time.Hour)}
	if err != nil || d != want {
		t.Fatalf("approval pushed:\n got %+v %v\nwant %+v", d, err, want)
	}
	st, _ := v.AccessRequests(ctx)
	if len(st) != 2 || st[0].ID != idA || st[0].Requester == "" || st[0].Status != approval.Approved {
		t.Fatalf("log: %+v", st)
	}
	ents, _ := v.logEntries(ctx)
	sessions := 0
	for _, e := range ents {
		if e.Kind == tlog.KindSession && e.Details["event"] == "invalid-access-request" {
			sessions++
		}
	}
	if sessions != 3 { // one per pull that saw it
		t.Errorf("%d invalid-request sessions logged, want 3", sessions)
	}
}

// TestIncidentsFromDaemons (requirement 23): incidents filed at two
// daemons come in once each, under the site they were pulled from (one
// site reusing another's id neither hides nor replaces it); a host's
// entry cannot acknowledge; an unacknowledged incident escalates past its
// hours once, with a log entry and a webhook alert.
func TestIncidentsFromDaemons(t *testing.T) {
	now := testNow
	v, desks := deskVault(t, &now, "lu=LU", "ch=CH")
	ctx := context.Background()
	var mu sync.Mutex
	var hooks []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	if err := os.WriteFile(filepath.Join(v.Home.Dir, "hook.secret"), []byte("0123456789abcdef0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Home.Dir, WatchConfigFile), []byte("webhooks:\n  - url: "+srv.URL+"\n    secret_file: hook.secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := func(id, what string) incident.HostRecord {
		return incident.HostRecord{ID: id, HostFiling: incident.HostFiling{Type: "physical", Reporter: "duty officer", What: what,
			Occurred: testNow.Add(-2 * time.Hour)}, FiledBy: "home-x/role/operator/ops", Filed: testNow.Add(-90 * time.Minute)}
	}
	desks["lu"].incs = []incident.HostRecord{rec(idA, "UPS fire in hall B")}
	desks["ch"].incs = []incident.HostRecord{rec(idA, "same id, other site"), rec(idC, "door forced\x1b[2J")}
	p, err := v.PullIncidents(ctx)
	if err != nil || len(p.New) != 2 || p.Invalid != 1 {
		t.Fatalf("pull: %+v %v", p, err)
	}
	if again, err := v.PullIncidents(ctx); err != nil || len(again.New) != 0 {
		t.Fatalf("second pull: %+v %v", again, err)
	}
	// a host's look-alike acknowledgement counts for nothing
	if err := v.Recorder().Append(ctx, tlog.Entry{Kind: incident.KindAck, Site: "lu", Details: map[string]string{incident.DetailFiled: "1", tlog.DetailInitiator: "host"}}); err != nil {
		t.Fatal(err)
	}
	is, err := v.Incidents(ctx)
	if err != nil || len(is) != 2 || is[0].Site != "lu" || is[1].Site != "ch" || !is[0].Notified.Equal(testNow) || is[0].ID != idA || !is[0].Acked.IsZero() {
		t.Fatalf("incidents: %+v %v", is, err)
	}
	// the acknowledgement goes back to ch's daemon, signed; a failed push
	// is retried by the next pull, once
	desks["ch"].failPush = true
	if _, _, err := v.AckIncident(ctx, is[1].Index, "seen"); err != nil {
		t.Fatal(err)
	}
	desks["ch"].failPush = false
	p, err = v.PullIncidents(ctx)
	if err != nil || len(p.AcksPushed) != 1 || p.AcksPushed[0].Index != is[1].Index || len(p.New) != 0 {
		t.Fatalf("pull after the acknowledgement: %+v %v", p, err)
	}
	_, vkey, err := v.AccessKey()
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	a, err := incident.OpenAck(desks["ch"].pushed[idA], verifier)
	if err != nil || a != (incident.Ack{Home: v.Home.Config.Home, Site: "ch", Incident: idA, At: testNow.Truncate(time.Second)}) {
		t.Fatalf("pushed acknowledgement: %+v %v", a, err)
	}
	if _, ok := desks["lu"].pushed[idA]; ok {
		t.Fatal("ch's acknowledgement was pushed to lu")
	}
	if p, err := v.PullIncidents(ctx); err != nil || len(p.AcksPushed) != 0 {
		t.Fatalf("pushed again: %+v %v", p, err)
	}
	now = testNow.Add(71 * time.Hour)
	if esc, err := v.EscalateIncidents(ctx); err != nil || len(esc.Escalated) != 0 {
		t.Fatalf("escalated within the hours: %+v %v", esc, err)
	}
	now = testNow.Add(73 * time.Hour)
	esc, err := v.EscalateIncidents(ctx)
	if err != nil || len(esc.Escalated) != 1 || esc.Escalated[0].Site != "lu" || esc.NotifyErr != "" {
		t.Fatalf("escalation: %+v %v", esc, err)
	}
	if esc, err := v.EscalateIncidents(ctx); err != nil || len(esc.Escalated) != 0 {
		t.Fatalf("escalated twice: %+v %v", esc, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != 1 {
		t.Fatalf("%d webhook calls, want 1", len(hooks))
	}
	var b struct {
		Alerts []struct{ Kind, Site, Why string }
	}
	if err := json.Unmarshal([]byte(hooks[0]), &b); err != nil || len(b.Alerts) != 1 || b.Alerts[0].Kind != IncidentAlertKind || b.Alerts[0].Site != "lu" {
		t.Fatalf("webhook: %s %v", hooks[0], err)
	}
	is, _ = v.Incidents(ctx)
	if is[0].EscalatedAt == 0 || is[1].EscalatedAt != 0 {
		t.Errorf("escalation entries: %+v", is)
	}
}
