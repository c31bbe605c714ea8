package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
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
