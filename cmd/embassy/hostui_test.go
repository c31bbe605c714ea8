package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/ui"
)

// The host-side view (docs/UI.md): a real embassyd with --ui-listen, read
// with a host operator's certificate of the home PKI.

var hostViewAddr = regexp.MustCompile(`msg="host view" .*\baddr=(\S+)`)

// hostViewClient is an HTTPS client presenting the certificate in dir (as
// issued by 'embassy pki issue -o dir') or none when name is "".
func hostViewClient(t *testing.T, dir, name string) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt: no certificate")
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, CurvePreferences: pki.PQCurves, ServerName: "127.0.0.1"}
	if name != "" {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 20 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func getJSON(t *testing.T, c *http.Client, url string, v any) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, b)
	}
	return resp
}

// startHostView runs embassyd with --ui-listen for a new site "lu" at f's
// home and returns the site and the view's base URL.
func startHostView(t *testing.T, f *fixture) (*hostSite, string) {
	t.Helper()
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	startHostedgeDaemon(t, lu, "--ui-listen", "127.0.0.1:0")
	deadline := time.After(20 * time.Second)
	for {
		if m := hostViewAddr.FindStringSubmatch(lu.logs()); m != nil {
			return lu, "https://" + m[1]
		}
		select {
		case <-deadline:
			t.Fatalf("embassyd logged no host view address:\n%s", lu.logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestHostUIOperatorView(t *testing.T) {
	f := newFixture(t)
	lu, base := startHostView(t, f)
	op := operatorClient(t, f, lu.addr) // issues the "ops" operator certificate
	markup := `<img src=x onerror=alert(1)><script>alert("owned")</script>`
	if err := op.Disclose(context.Background(), api.Disclosure{Reason: "HOST_INITIATED_SERVICE", Who: "ops", What: markup, Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	c := hostViewClient(t, filepath.Join(f.dir, "ops"), "ops")

	var me struct {
		Principal ui.Principal `json:"principal"`
	}
	getJSON(t, c, base+"/api/me", &me)
	if me.Principal.Role != ui.RoleOperator || me.Principal.Site != "lu" || me.Principal.Via != "certificate" {
		t.Fatalf("principal: %+v", me.Principal)
	}

	var ov ui.Overview
	resp := getJSON(t, c, base+"/api/overview", &ov)
	if len(ov.Sites) != 1 || ov.Sites[0].Name != "lu" || !ov.Sites[0].Healthy || ov.Home == "" {
		t.Fatalf("overview: %+v", ov)
	}
	// substring: an HTTP header: one directive present, one absent
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP: %q", csp)
	}

	var rep tlog.DisclosureReport
	getJSON(t, c, base+"/api/disclosures", &rep)
	if len(rep.Disclosures) != 1 || rep.Disclosures[0].What != markup || rep.Disclosures[0].Site != "lu" || rep.Disclosures[0].Ticket != "T-1" {
		t.Fatalf("disclosures: %+v", rep.Disclosures)
	}
	// Markup arrives as JSON text, escaped for HTML contexts as well.
	raw, err := c.Get(base + "/api/disclosures")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	// substring: the served page must hold no script or image markup: absence
	if strings.Contains(string(b), "<script>") || strings.Contains(string(b), "<img") || raw.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("disclosure markup raw in the answer: %s", b)
	}

	var hv struct {
		Site   string `json:"site"`
		Access struct {
			Privileged  int `json:"privileged_sessions"`
			Disclosures int `json:"disclosures"`
			Unpulled    int `json:"disclosures_not_pulled"`
		} `json:"access"`
		Disclosures []struct {
			What   string `json:"what"`
			Pulled bool   `json:"pulled"`
		} `json:"disclosures"`
	}
	getJSON(t, c, base+"/api/host", &hv)
	if hv.Site != "lu" || hv.Access.Privileged < 1 || hv.Access.Disclosures != 1 || hv.Access.Unpulled != 1 || len(hv.Disclosures) != 1 || hv.Disclosures[0].Pulled {
		t.Fatalf("host view before the home pulled: %+v", hv)
	}
	// The home pulls the events: the disclosure is then shown as pulled.
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	f.run("site", "events", "lu")
	getJSON(t, c, base+"/api/host", &hv)
	if hv.Access.Unpulled != 0 || !hv.Disclosures[0].Pulled {
		t.Fatalf("host view after the home pulled: %+v", hv)
	}

	// Home-only data does not exist here; nothing changes through the view.
	for _, p := range []string{"/api/datasets", "/api/continuity"} {
		r, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusForbidden && r.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s as host operator: %s", p, r.Status)
		}
	}
	r, err := c.Post(base+"/api/alerts/0/ack", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST through the host view: %s", r.Status)
	}

	// Without a certificate the handshake is refused.
	if r, err := hostViewClient(t, filepath.Join(f.dir, "ops"), "").Get(base + "/api/overview"); err == nil {
		r.Body.Close()
		t.Fatalf("host view answered without a client certificate: %s", r.Status)
	}
}

// The host view's page in Chromium, as a host operator: the browser reaches
// the real embassyd through a test-side gateway that presents the
// operator's certificate (Chromium's own client-certificate selection needs
// a certificate database and a policy). The disclosure's markup is shown as
// text; datasets and continuity are not offered.
func TestHostUIInRealBrowser(t *testing.T) {
	chromium(t)
	f := newFixture(t)
	lu, base := startHostView(t, f)
	op := operatorClient(t, f, lu.addr)
	markup := `<img id=pwn src=x onerror="document.title='pwned'">rack B3`
	if err := op.Disclose(context.Background(), api.Disclosure{Reason: "HOST_INITIATED_SERVICE", Who: "ops", What: markup}); err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = hostViewClient(t, filepath.Join(f.dir, "ops"), "ops").Transport
	gw := httptest.NewServer(proxy)
	t.Cleanup(gw.Close)

	ctx, cancel := browser(t)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(gw.URL+"/#/disclosures")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the disclosure", `[...document.querySelectorAll(".disclosure-text")].some(e => e.textContent.includes(`+strconv.Quote(markup)+`))`)
	rendered, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("pwn") !== null || document.title === "pwned"`))
	if err != nil {
		t.Fatal(err)
	}
	if rendered {
		t.Fatal("markup from a disclosure filed at the daemon was rendered by the host view")
	}
	waitJS(t, ctx, "datasets hidden from the host operator", `document.querySelector('nav a[data-view="datasets"]').parentElement.hidden`)
	shot(t, ctx, "hostview-disclosures")

	// The host's own access request and incident appear in the view's log
	// with their state (pending; not acknowledged), as text.
	if _, err := op.RequestAccess(context.Background(), approval.Filing{Reason: "HOST_INITIATED_SERVICE", Scope: "metadata", Duration: "2h",
		Who: "LU engineer", What: "array migration"}); err != nil {
		t.Fatal(err)
	}
	if _, err := op.FileIncident(context.Background(), incident.HostFiling{Type: "physical", Reporter: "duty officer", What: markup,
		Occurred: time.Now().Add(-time.Hour).UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(gw.URL+"/#/log")); err != nil {
		t.Fatal(err)
	}
	row := func(kind, text string) string {
		return `[...document.querySelectorAll("tr")].some(r => { const c = [...r.children].map(td => td.textContent); return c[2] === ` +
			strconv.Quote(kind) + ` && c[5].includes(` + strconv.Quote(text) + `); })`
	}
	waitJS(t, ctx, "the pending access request", row("site.access.pending", "HOST_INITIATED_SERVICE metadata for 2h: array migration"))
	waitJS(t, ctx, "the unacknowledged incident", row("site.incident.unacknowledged", "physical: "+markup))
	if rendered, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("pwn") !== null || document.title === "pwned"`)); err != nil || rendered {
		t.Fatalf("markup from an incident filed at the daemon was rendered by the host view (%v)", err)
	}
	shot(t, ctx, "hostview-log-access-incidents")
}
