package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// startHostView serves env's host view on an ephemeral port.
func startHostView(t *testing.T, env *servertest.Env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Server.ServeHostView(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("host view: %v", err)
		}
	})
	return "https://" + ln.Addr().String()
}

func hvGet(t *testing.T, c *http.Client, url string, v any) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, b)
		}
	}
	return resp.StatusCode
}

func TestHostViewRolesStoragePulled(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{Name: "lu", Jurisdiction: "LU"}), nil)
	base := startHostView(t, env)
	home := env.Client(t, pki.RoleHome, "home")
	for _, n := range []string{"a", "b"} {
		if err := home.Put(t.Context(), site.Handle{Kind: site.KindPack, Name: n}, site.Bytes("12345"), site.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ops := env.Client(t, pki.RoleOperator, "ops")
	if err := ops.Disclose(t.Context(), api.Disclosure{Reason: "HOST_INITIATED_SERVICE", Who: "ops", What: "<b>rack</b>"}); err != nil {
		t.Fatal(err)
	}
	client := func(role pki.Role, name string) *http.Client {
		pair := env.Issue(t, pki.Request{Role: role, Name: name})
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: env.TLS(&pair)}}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	op, aud, hm := client(pki.RoleOperator, "ops2"), client(pki.RoleAuditor, "aud"), client(pki.RoleHome, "home2")

	var hv server.HostView
	if code := hvGet(t, op, base+"/api/host", &hv); code != 200 {
		t.Fatalf("operator /api/host: %d", code)
	}
	if hv.Site != "lu" || hv.Storage.Objects["data"] != 2 || hv.Storage.Sizes["data"] != 10 || hv.Storage.Bytes != 10 ||
		hv.Access.Disclosures != 1 || hv.Access.Unpulled != 1 || hv.Disclosures[0].What != "<b>rack</b>" || hv.Disclosures[0].Pulled {
		t.Fatalf("host view: %+v", hv)
	}
	// An operator's pull is not the home's.
	if _, err := ops.Events(t.Context()); err != nil {
		t.Fatal(err)
	}
	hvGet(t, aud, base+"/api/host", &hv)
	if hv.Access.Unpulled != 1 || hv.LastPull != nil {
		t.Fatalf("operator pull counted as the home's: %+v", hv.Access)
	}
	if _, err := home.Events(t.Context()); err != nil {
		t.Fatal(err)
	}
	hvGet(t, hm, base+"/api/host", &hv)
	if hv.Access.Unpulled != 0 || !hv.Disclosures[0].Pulled || hv.LastPull == nil {
		t.Fatalf("after the home pulled: %+v", hv)
	}

	for _, tc := range []struct {
		c    *http.Client
		path string
		want int
	}{
		{op, "/api/overview", 200},
		{aud, "/api/overview", 200},
		{hm, "/api/disclosures", 200},
		{op, "/api/datasets", 403},   // never for host operators
		{hm, "/api/datasets", 404},   // no datasets exist here
		{aud, "/api/receipt/0", 404}, // no log receipts here
		{op, "/", 200},
	} {
		if code := hvGet(t, tc.c, base+tc.path, nil); code != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, code, tc.want)
		}
	}
	for _, path := range []string{"/api/alerts/1/ack", "/api/signin", "/api/passkey/login/begin"} {
		resp, err := hm.Post(base+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s as home: %d, want 405", path, resp.StatusCode)
		}
	}
	// A site certificate (another daemon) is refused at the handshake.
	sitePair := env.Issue(t, pki.Request{Role: pki.RoleSite, Name: "other", Hosts: []string{"127.0.0.1"}})
	sc := &http.Client{Transport: &http.Transport{TLSClientConfig: env.TLS(&sitePair)}}
	if resp, err := sc.Get(base + "/api/overview"); err == nil {
		resp.Body.Close()
		t.Fatalf("site certificate answered: %d", resp.StatusCode)
	}
	// The refused handshake is counted (the guard notes it once the
	// handshake has ended on its side, which the client does not wait for).
	deadline := time.Now().Add(10 * time.Second)
	for hvGet(t, hm, base+"/api/host", &hv); hv.Access.Refused < 1; hvGet(t, hm, base+"/api/host", &hv) {
		if time.Now().After(deadline) {
			t.Fatalf("refused handshake not counted: %+v", hv.Access)
		}
		runtime.Gosched()
	}
}

// The host view shows the access requests filed at the daemon with the
// home's decisions, and the incidents filed there with whether the home
// pulled and acknowledged each; a forged acknowledgement shows nothing.
func TestHostViewAccessAndIncidents(t *testing.T) {
	const homeID = "h0123456789abcdef0123" // servertest's home
	skey, vkey, err := note.GenerateKey(rand.Reader, homeID+"/access")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	fkey, _, _ := note.GenerateKey(rand.Reader, homeID+"/access")
	forger, _ := note.NewSigner(fkey)
	env := servertest.Start(t, mem.New(site.Properties{Name: "lu", Jurisdiction: "LU"}), &server.Config{AccessKey: vkey})
	base := startHostView(t, env)
	ctx := t.Context()
	ops, home := env.Client(t, pki.RoleOperator, "ops"), env.Client(t, pki.RoleHome, "home")
	req, err := ops.RequestAccess(ctx, approval.Filing{Reason: "HOST_INITIATED_SERVICE", Scope: "metadata", Duration: "2h", Who: "LU engineer", What: "array migration"})
	if err != nil {
		t.Fatal(err)
	}
	denied, err := ops.RequestAccess(ctx, approval.Filing{Reason: "HOST_INITIATED_REVIEW", Scope: "metadata", Duration: "1h", Who: "LU auditor", What: "inventory"})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := approval.Decision{Home: homeID, Site: "lu", Request: denied.ID, Requester: denied.Requester, Scope: "metadata",
		Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := home.PushDecision(ctx, denied.ID, dec); err != nil {
		t.Fatal(err)
	}
	occurred := time.Now().Add(-time.Hour).UTC()
	fire, err := ops.FileIncident(ctx, incident.HostFiling{Type: "physical", Reporter: "duty officer", What: "UPS fire", Occurred: occurred})
	if err != nil {
		t.Fatal(err)
	}
	badge, err := ops.FileIncident(ctx, incident.HostFiling{Type: "security", Reporter: "SOC", What: "badge cloned", Occurred: occurred})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := home.Incidents(ctx); err != nil { // the home pulls both
		t.Fatal(err)
	}
	ack := incident.Ack{Home: homeID, Site: "lu", Incident: badge.ID, At: time.Now().UTC().Truncate(time.Second)}
	forged, _ := incident.Ack{Home: homeID, Site: "lu", Incident: fire.ID, At: ack.At}.Sign(forger)
	if _, err := ops.PushIncidentAck(ctx, fire.ID, forged); err == nil || !strings.Contains(err.Error(), "not signed by the home's access key") {
		t.Fatalf("forged acknowledgement: %v", err)
	}
	msg, _ := ack.Sign(signer)
	if _, err := ops.PushIncidentAck(ctx, fire.ID, msg); err == nil || !strings.Contains(err.Error(), "is for incident "+badge.ID) {
		t.Fatalf("badge's acknowledgement for the fire: %v", err)
	}
	if r, err := home.PushIncidentAck(ctx, badge.ID, msg); err != nil || !r.Acknowledged.Equal(ack.At) {
		t.Fatalf("acknowledgement: %+v %v", r, err)
	}

	pair := env.Issue(t, pki.Request{Role: pki.RoleOperator, Name: "ops2"})
	op := &http.Client{Transport: &http.Transport{TLSClientConfig: env.TLS(&pair)}}
	t.Cleanup(op.CloseIdleConnections)
	var hv server.HostView
	if code := hvGet(t, op, base+"/api/host", &hv); code != 200 {
		t.Fatalf("/api/host: %d", code)
	}
	if len(hv.AccessRequests) != 2 || hv.AccessRequests[0].ID != denied.ID || hv.AccessRequests[0].Status != approval.Denied ||
		hv.AccessRequests[1].ID != req.ID || hv.AccessRequests[1].Status != approval.Pending {
		t.Fatalf("access requests: %+v", hv.AccessRequests)
	}
	if len(hv.Incidents) != 2 || hv.Incidents[0].ID != badge.ID || !hv.Incidents[0].Acknowledged.Equal(ack.At) || !hv.Incidents[0].Pulled ||
		hv.Incidents[1].ID != fire.ID || !hv.Incidents[1].Acknowledged.IsZero() || !hv.Incidents[1].Pulled {
		t.Fatalf("incidents: %+v", hv.Incidents)
	}
	var rows []struct {
		Kind    string            `json:"kind"`
		Object  string            `json:"object"`
		Details map[string]string `json:"details"`
	}
	if code := hvGet(t, op, base+"/api/log", &rows); code != 200 {
		t.Fatalf("/api/log: %d", code)
	}
	kinds := map[string]string{}
	for _, r := range rows {
		if id := r.Details["id"]; id != "" {
			kinds[id] = r.Kind
		}
	}
	want := map[string]string{req.ID: "site.access.pending", denied.ID: "site.access.denied", fire.ID: "site.incident.unacknowledged", badge.ID: "site.incident.acknowledged"}
	for id, k := range want {
		if kinds[id] != k {
			t.Errorf("log row of %s: %q, want %q (rows %+v)", id, kinds[id], k, rows)
		}
	}
}
