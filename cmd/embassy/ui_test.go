package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium; in CI a missing browser fails the test
// rather than skipping it.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed (apt-get install chromium): the dashboard's browser tests cannot run")
	}
	t.Skip("no Chromium (apt-get install chromium)")
	return ""
}

// startUI runs 'embassy ui' on an ephemeral port and returns its address.
func startUI(t *testing.T, f *fixture) string {
	c := f.cmd("ui", "--listen", "127.0.0.1:0")
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("embassy ui: %v", err)
	}
	// "dashboard on http://127.0.0.1:PORT/ (...)"
	i := strings.Index(line, "http://")
	j := strings.Index(line[i+7:], "/")
	return line[i+7 : i+7+j]
}

func browser(t *testing.T) (context.Context, func()) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true), chromedp.WindowSize(1280, 900))
	actx, cancel1 := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel2 := chromedp.NewContext(actx)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	return ctx, func() { cancel3(); cancel2(); cancel1() }
}

func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("EMBASSY_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "embassy-artifacts")
	}
	_ = os.MkdirAll(dir, 0o755)
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
}

// waitText polls the page until the JavaScript expression yields true.
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: not seen within 45 s; page:\n%s", what, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestDashboardInRealBrowser(t *testing.T) {
	chromium(t)
	f := newFixture(t)
	f.run("site", "add", "fi", "--url", filepath.Join(f.dir, "site-fi"), "--jurisdiction", "FI", "--location", "60.17,24.94")
	f.run("disclose", "--site", "a", "--reason", "HOST_INITIATED_SERVICE", "--access", "physical",
		"--who", `<img src=x id=pwned>technician`, "--what", `<script>document.title='pwned'</script>disk swap`)
	addr := startUI(t, f)
	ctx, cancel := browser(t)
	defer cancel()

	link := strings.TrimSpace(f.run("ui", "link", "--role", "home", "--name", "ops-ee", "--addr", addr))
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "signed in", `document.getElementById("who").textContent.includes("ops-ee (home)")`)
	waitJS(t, ctx, "three healthy sites", `document.querySelectorAll("tr[data-site] .site-health.ok").length === 3`)
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	// substring: the browser's URL: the sign-in token must be gone from it
	if strings.Contains(href, "signin=") {
		t.Fatalf("the sign-in token stayed in the address bar: %s", href)
	}
	shot(t, ctx, "overview")

	// A site's storage goes away: it turns red without a reload.
	siteB := filepath.Join(f.dir, "site-b")
	if err := os.Rename(siteB, siteB+".away"); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "site b red", `!!document.querySelector('tr[data-site="b"] .site-health.bad')`)
	shot(t, ctx, "overview-site-down")
	if err := os.Rename(siteB+".away", siteB); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "site b green again", `!!document.querySelector('tr[data-site="b"] .site-health.ok')`)

	// A disclosure filed by a host with markup in it is shown as text.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/#/disclosures")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the disclosure", `[...document.querySelectorAll(".disclosure-text")].some(e => e.textContent.includes("<script>document.title='pwned'</script>disk swap"))`)
	pwned, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.getElementById("pwned") || document.title === "pwned"`))
	if pwned {
		t.Fatal("markup from a host-filed disclosure was rendered")
	}
	shot(t, ctx, "disclosures")

	// Agreements, continuity and key broker, from real records.
	seedViews(t, f)
	checkNewViews(t, ctx, addr)

	// Accessibility: axe-core finds no serious or critical violation on any view.
	axe, err := os.ReadFile(filepath.Join("testdata", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, view := range []string{"overview", "datasets", "log", "disclosures", "agreements", "continuity", "broker"} {
		if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/#/"+view)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, ctx, view+" rendered", `document.querySelector("#view h2") !== null`)
		shot(t, ctx, view)
		js := string(axe) + `;axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({id: v.id, help: v.help, nodes: v.nodes.length})))`
		res, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]any](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe on %s: %v", view, err)
		}
		if len(res) > 0 {
			t.Errorf("%s: serious accessibility violations: %v", view, res)
		}
	}

	// A host operator sees only their site and cannot reach home-only data.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/api/signout", {method: "POST"}).then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	oplink := strings.TrimSpace(f.run("ui", "link", "--role", "operator", "--name", "ops-lu", "--site", "a", "--addr", addr))
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(oplink)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "operator signed in", `document.getElementById("who").textContent.includes("ops-lu (operator, a)")`)
	waitJS(t, ctx, "only site a", `document.querySelectorAll("tr[data-site]").length === 1 && !!document.querySelector('tr[data-site="a"]')`)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/datasets").then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if status != 403 {
		t.Fatalf("operator reached /api/datasets: %d", status)
	}
	status, err = chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/continuity").then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Fatalf("operator reached /api/continuity: %d %v", status, err)
	}
	// No agreement covers site a, and the broker's entries are about site a
	// only through the workload's site: the operator sees those, nothing else.
	opView, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Promise.all([fetch("/api/agreements").then(r => r.json()), fetch("/api/broker").then(r => r.json())]).then(([a, b]) => a.length + " " + b.events.every(e => e.site === "a"))`, chromedp.EvalAwaitPromise))
	if err != nil || opView != "0 true" {
		t.Fatalf("operator's agreements and broker views: %q %v", opView, err)
	}
	shot(t, ctx, "operator-overview")

	// Passkeys: register one after a link sign-in, sign out, sign in with it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/api/signout", {method: "POST"}).then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
		Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21, Transport: cdpwebauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}}); err != nil {
		t.Fatal(err)
	}
	audlink := strings.TrimSpace(f.run("ui", "link", "--role", "auditor", "--name", "eu-auditor", "--addr", addr))
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(audlink)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "auditor signed in by link", `document.getElementById("who").textContent.includes("eu-auditor (auditor)")`)
	if err := chromedp.Do(ctx, chromedp.Click("#passkey-register")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "passkey registered", `document.getElementById("status").textContent.startsWith("Passkey registered")`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/api/signout", {method: "POST"}).then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "signed out", `!document.getElementById("signin").hidden`)
	shot(t, ctx, "signin")
	if err := chromedp.Do(ctx, chromedp.Click("#passkey-signin")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "auditor signed in by passkey", `document.getElementById("who").textContent.includes("eu-auditor (auditor)")`)

	// Every sign-in is in the transparency log, passkey ones too.
	wantRun(t, "log --kind ui.signin", f.try("log", "--kind", "ui.signin", "--json").masked(), 0, lines{
		"[",
		"  {",
		rx(`    "index": \d+,`),
		`    "v": 1,`,
		`    "kind": "ui.signin",`,
		`    "time": "YYYY-MM-DDThh:mm:ssZ",`,
		`    "actor": "ui:ops-ee",`,
		`    "home": "hHHHHHHHHHHHHHHHHHHHH",`,
		`    "details": {`,
		`      "role": "home",`,
		`      "via": "link"`,
		"    }",
		"  },",
		"  {",
		rx(`    "index": \d+,`),
		`    "v": 1,`,
		`    "kind": "ui.signin",`,
		`    "time": "YYYY-MM-DDThh:mm:ssZ",`,
		`    "actor": "ui:ops-lu",`,
		`    "home": "hHHHHHHHHHHHHHHHHHHHH",`,
		`    "site": "a",`,
		`    "details": {`,
		`      "role": "operator",`,
		`      "via": "link"`,
		"    }",
		"  },",
		"  {",
		rx(`    "index": \d+,`),
		`    "v": 1,`,
		`    "kind": "ui.signin",`,
		`    "time": "YYYY-MM-DDThh:mm:ssZ",`,
		`    "actor": "ui:eu-auditor",`,
		`    "home": "hHHHHHHHHHHHHHHHHHHHH",`,
		`    "details": {`,
		`      "role": "auditor",`,
		`      "via": "link"`,
		"    }",
		"  },",
		"  {",
		rx(`    "index": \d+,`),
		`    "v": 1,`,
		`    "kind": "ui.signin",`,
		`    "time": "YYYY-MM-DDThh:mm:ssZ",`,
		`    "actor": "ui:eu-auditor",`,
		`    "home": "hHHHHHHHHHHHHHHHHHHHH",`,
		`    "details": {`,
		`      "role": "auditor",`,
		`      "via": "passkey"`,
		"    }",
		"  }",
		"]",
	}, nil)
	if out := f.run("log", "--kind", "ui.signin"); strings.Count(out, "ui.signin") < 2 {
		t.Fatalf("sign-ins not logged:\n%s", out)
	}
}
