package ui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

type fakeSource struct {
	mu       sync.Mutex
	recorded []tlog.Entry
	ver      uint64
}

func (f *fakeSource) Overview(context.Context) (Overview, error) {
	lat, lon := 49.6, 6.1
	return Overview{Home: "h1", Sites: []Site{{Name: "lu-1", Jurisdiction: "LU", Healthy: true, Lat: &lat, Lon: &lon}, {Name: "ch-1", Jurisdiction: "CH"}},
		Alerts: []watch.Alert{{Kind: "read-surge", Site: "ch-1"}, {Kind: "proof-latency-shift", Site: "lu-1"}}}, nil
}
func (f *fakeSource) Datasets(context.Context) ([]Dataset, error) {
	return []Dataset{{Name: "population-register", Sites: []string{"lu-1"}}}, nil
}
func (f *fakeSource) Log(context.Context) ([]tlog.Indexed, error) {
	return []tlog.Indexed{{Index: 0, Entry: tlog.Entry{Kind: "snapshot", Site: "lu-1"}}, {Index: 1, Entry: tlog.Entry{Kind: "session", Site: "ch-1", Actor: "<script>alert(1)</script>"}}}, nil
}
func (f *fakeSource) Disclosures(context.Context) (tlog.DisclosureReport, error) {
	return tlog.DisclosureReport{Alerts: []tlog.Alert{{Kind: "undisclosed-access", Site: "ch-1"}, {Kind: "late-disclosure", Site: "lu-1"}}}, nil
}
func (f *fakeSource) Receipt(_ context.Context, i uint64) ([]byte, error) {
	return []byte("receipt"), nil
}
func (f *fakeSource) Record(_ context.Context, e tlog.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = append(f.recorded, e)
	return nil
}
func (f *fakeSource) Version(context.Context) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ver
}

type client struct {
	t    *testing.T
	srv  *httptest.Server
	c    *http.Client
	csrf string
}

func newServer(t *testing.T) (*fakeSource, *Links, *httptest.Server) {
	src := &fakeSource{}
	links := &Links{Path: filepath.Join(t.TempDir(), "links.json")}
	srv := httptest.NewServer(New(Config{Source: src, Links: links}))
	t.Cleanup(srv.Close)
	return src, links, srv
}

func signin(t *testing.T, srv *httptest.Server, links *Links, p Principal) *client {
	tok, err := links.Issue(p, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, srv: srv, c: &http.Client{Jar: jar}}
	req, _ := http.NewRequest("POST", srv.URL+"/api/signin", strings.NewReader(`{"token":"`+tok+`"}`))
	req.Header.Set("Origin", srv.URL)
	resp, err := c.c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign-in: %v %v", err, resp.Status)
	}
	var b struct{ CSRF string }
	_ = json.NewDecoder(resp.Body).Decode(&b)
	c.csrf = b.CSRF
	// The link is one-time.
	req, _ = http.NewRequest("POST", srv.URL+"/api/signin", strings.NewReader(`{"token":"`+tok+`"}`))
	req.Header.Set("Origin", srv.URL)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a used link signed in again: %s", resp.Status)
	}
	return c
}

func (c *client) get(path string) (int, string) {
	resp, err := c.c.Get(c.srv.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) post(path, origin, csrf string) int {
	req, _ := http.NewRequest("POST", c.srv.URL+path, nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	_, _, srv := newServer(t)
	for _, p := range []string{"/", "/app.js", "/api/overview", "/nope"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: headers %v", p, resp.Header)
		}
	}
	if resp, _ := http.Get(srv.URL + "/api/overview"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated API: %s", resp.Status)
	}
}

func TestPageHasNoInlineScript(t *testing.T) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, "<script>") || strings.Contains(s, " on") && strings.Contains(s, "onclick") || strings.Contains(s, "style=") || strings.Contains(s, "http://") || strings.Contains(s, "https://") {
		t.Fatal("index.html carries inline script, inline style or an outside URL")
	}
	js, _ := assets.ReadFile("assets/app.js")
	if strings.Contains(string(js), "innerHTML") || strings.Contains(string(js), "insertAdjacentHTML") {
		t.Fatal("app.js parses markup: use textContent")
	}
}

func TestRolesAreEnforcedOnTheAPI(t *testing.T) {
	src, links, srv := newServer(t)
	op := signin(t, srv, links, Principal{Role: RoleOperator, Name: "ops-ch", Site: "ch-1"})
	if code, _ := op.get("/api/datasets"); code != http.StatusForbidden {
		t.Fatalf("operator reached datasets: %d", code)
	}
	_, body := op.get("/api/overview")
	if strings.Contains(body, "lu-1") || !strings.Contains(body, "ch-1") {
		t.Fatalf("operator overview shows another site: %s", body)
	}
	_, body = op.get("/api/log")
	if strings.Contains(body, `"snapshot"`) {
		t.Fatalf("operator log shows home entries: %s", body)
	}
	if code, _ := op.get("/api/receipt/0"); code != http.StatusForbidden {
		t.Fatalf("operator got a receipt of another site's entry: %d", code)
	}
	_, body = op.get("/api/disclosures")
	if strings.Contains(body, "lu-1") {
		t.Fatalf("operator disclosures show another site: %s", body)
	}
	if code := op.post("/api/alerts/1/ack", srv.URL, op.csrf); code != http.StatusForbidden {
		t.Fatalf("operator changed something: %d", code)
	}

	aud := signin(t, srv, links, Principal{Role: RoleAuditor, Name: "auditor"})
	if code, body := aud.get("/api/datasets"); code != 200 || !strings.Contains(body, "population-register") {
		t.Fatalf("auditor datasets: %d %s", code, body)
	}
	if code := aud.post("/api/alerts/1/ack", srv.URL, aud.csrf); code != http.StatusForbidden {
		t.Fatalf("auditor changed something: %d", code)
	}

	home := signin(t, srv, links, Principal{Role: RoleHome, Name: "ops-ee"})
	if code := home.post("/api/alerts/1/ack", srv.URL, "wrong"); code != http.StatusForbidden {
		t.Fatalf("a change without the CSRF token: %d", code)
	}
	if code := home.post("/api/alerts/1/ack", "https://evil.example", home.csrf); code != http.StatusForbidden {
		t.Fatalf("a cross-origin change: %d", code)
	}
	if code := home.post("/api/alerts/1/ack", srv.URL, home.csrf); code != 200 {
		t.Fatalf("home ack: %d", code)
	}
	kinds := map[string]int{}
	for _, e := range src.recorded {
		kinds[e.Kind]++
	}
	if kinds["ui.signin"] != 3 || kinds["alert.ack"] != 1 {
		t.Fatalf("log records %v: want every sign-in and change", kinds)
	}
}

func TestLinks(t *testing.T) {
	l := &Links{Path: filepath.Join(t.TempDir(), "links.json")}
	now := time.Now()
	if _, err := l.Issue(Principal{Role: RoleOperator, Name: "x"}, time.Minute, now); err == nil {
		t.Fatal("an operator link without a site")
	}
	if _, err := l.Issue(Principal{Role: RoleHome, Name: "x"}, 48*time.Hour, now); err == nil {
		t.Fatal("a two-day link")
	}
	tok, err := l.Issue(Principal{Role: RoleAuditor, Name: "a"}, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Redeem(tok, now.Add(2*time.Minute)); err == nil {
		t.Fatal("an expired link")
	}
	if _, err := l.Redeem(strings.Repeat("0", 48), now); err == nil {
		t.Fatal("an unknown link")
	}
}

func TestStreamAnnouncesChanges(t *testing.T) {
	src, links, _ := newServer(t)
	srv2 := httptest.NewServer(New(Config{Source: src, Links: links, Poll: 10 * time.Millisecond}))
	defer srv2.Close()
	c := signin(t, srv2, links, Principal{Role: RoleHome, Name: "h"})
	resp, err := c.c.Get(srv2.URL + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 256)
	n, _ := resp.Body.Read(buf)
	if !strings.Contains(string(buf[:n]), "event: version\ndata: 0") {
		t.Fatalf("first event: %q", buf[:n])
	}
	src.mu.Lock()
	src.ver = 7
	src.mu.Unlock()
	var got string
	for !strings.Contains(got, "data: 7") {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += string(buf[:n])
	}
}
