package vault

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
)

// TestCoverIssueDashboardLink: a link carries its token in the fragment
// and expires after its TTL; a bad role, no name, a TTL over a day and an
// operator link without a site are usage errors.
func TestCoverIssueDashboardLink(t *testing.T) {
	dir, o := newVault(t)
	v := open(t, dir, o)
	l, err := v.IssueDashboardLink(DashboardLinkRequest{Role: "auditor", Name: "ana", TTL: time.Hour, Addr: "ui.example:8443"})
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(l.URL, "http://ui.example:8443/#signin=")
	if !ok || len(tok) != 48 {
		t.Fatalf("link %q: want http://ui.example:8443/#signin=<48 characters>", l.URL)
	}
	want := DashboardLink{URL: l.URL, Role: "auditor", Name: "ana", Expires: "2026-11-25T11:00:00Z"}
	if *l != want {
		t.Errorf("link %+v, want %+v", *l, want)
	}
	for _, c := range []struct {
		req DashboardLinkRequest
		msg string
	}{
		{DashboardLinkRequest{Role: "root", Name: "x", TTL: time.Hour}, `--role: role "root": use home, auditor, operator or custodian`},
		{DashboardLinkRequest{Role: "home", TTL: time.Hour}, "--name: say who the link is for (it is recorded in the log at sign-in)"},
		{DashboardLinkRequest{Role: "home", Name: "x", TTL: 25 * time.Hour}, "link lifetime 25h0m0s: use at most 24h"},
		{DashboardLinkRequest{Role: "operator", Name: "x", TTL: time.Hour}, "an operator link needs --site: host operators see only their own site"},
	} {
		_, err := v.IssueDashboardLink(c.req)
		wantCode(t, err, hint.CodeUsage, c.msg, "")
	}
}

// TestCoverServeDashboard: the dashboard serves until its context ends;
// the address shown names the relying party instead of the loopback
// address; a link issued by the home signs in once; a bad --listen is
// refused with advice.
func TestCoverServeDashboard(t *testing.T) {
	dir, o := newVault(t)
	v := open(t, dir, o)
	err := v.ServeDashboard(context.Background(), DashboardRequest{Listen: "127.0.0.1:99999", RPID: "localhost"}, func(string) { t.Error("ready called") })
	wantCode(t, err, hint.CodeError, "listen tcp: address 99999: invalid port", "choose a free address with --listen")

	ctx, cancel := context.WithCancel(context.Background())
	shownc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- v.ServeDashboard(ctx, DashboardRequest{Listen: "127.0.0.1:0", RPID: "localhost"}, func(s string) { shownc <- s })
	}()
	shown := <-shownc
	host, port, ok := strings.Cut(shown, ":")
	if !ok || host != "localhost" || port == "" {
		t.Fatalf("shown %q, want localhost:PORT", shown)
	}
	addr := "127.0.0.1:" + port
	l, err := v.IssueDashboardLink(DashboardLinkRequest{Role: "home", Name: "ana", TTL: time.Hour, Addr: shown})
	if err != nil {
		t.Fatal(err)
	}
	tok := l.URL[strings.Index(l.URL, "#signin=")+len("#signin="):]
	signin := func() int {
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/signin", strings.NewReader(`{"token":"`+tok+`"}`))
		req.Header.Set("Origin", "http://"+addr)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := signin(); c != http.StatusOK {
		t.Errorf("first sign-in: %d, want 200", c)
	}
	if c := signin(); c != http.StatusUnauthorized {
		t.Errorf("second sign-in with the same link: %d, want 401", c)
	}
	if got := logged(t, v, "ui.signin", ""); len(got) != 1 {
		t.Errorf("%d ui.signin entries, want 1", len(got))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}
