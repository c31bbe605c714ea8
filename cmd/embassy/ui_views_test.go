package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// seedViews gives the dashboard's agreements, continuity and key broker
// views real records: an installed signed agreement, a restore drill
// (which fails its RTO: the plan has no lookup service, so its signed
// report says so), and one key release and one refusal by a real broker
// to a TPM-simulator workload.
func seedViews(t *testing.T, f *fixture) {
	t.Helper()
	f.run("agreement", "add", filepath.Join("..", "..", "examples", "agreements", "ee-lu.signed.yaml"))

	src := writeSource(t, filepath.Join(f.dir, "registry-src"), "38501012231,Mari,Tamm\n")
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	plan := filepath.Join(f.dir, "drill-plan.yaml")
	os.WriteFile(plan, []byte("name: ui-drill\nhome: "+f.homeFingerprint()+"\nsites:\n  - {name: a, url: "+filepath.Join(f.dir, "site-a")+
		"}\n  - {name: b, url: "+filepath.Join(f.dir, "site-b")+"}\ncustodians: [c0.key, c1.key]\nrto: 10m\ndatasets: [{name: registry, rpo: 24h}]\n"), 0o644)
	f.try("drill", plan, "--out", filepath.Join(f.home, "drill-report.json")) // exit 3: no service to probe

	infer := brokerHome(t, f, bytes.Repeat([]byte("w"), 4096))
	srv, url := startBroker(t, f)
	workload := func(measured string) {
		c := f.cmd("workload", "run", "--broker", url, "--dataset", "weights", "--site", filepath.Join(f.dir, "site-a"),
			"--ca", filepath.Join(f.home, "pki", "ca.crt"), "--tee", "tpm-sim", "--measure", "9="+measured, "--", "sh", infer)
		_ = c.Run() // the outcome is read back from the log, in the browser
	}
	workload(infer)
	tampered := filepath.Join(f.dir, "infer-v2.sh")
	os.WriteFile(tampered, []byte("#!/bin/sh\necho other image\n"), 0o755)
	workload(tampered)
	// Stopping the broker publishes the entries it sequenced.
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
}

// checkNewViews opens the agreements, continuity and key broker views as
// the home and checks what each shows; the scorecards are also printed
// (print media) for the screenshot.
func checkNewViews(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	nav := func(view string) {
		if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/#/"+view)); err != nil {
			t.Fatal(err)
		}
	}
	nav("agreements")
	waitJS(t, ctx, "the ee-lu scorecard", `[...document.querySelectorAll(".scorecard h3")].some(e => e.textContent.includes("Estonia - Luxembourg data embassy"))`)
	waitJS(t, ctx, "five dimensions with evidence", `document.querySelectorAll(".scorecard table").length >= 5 && [...document.querySelectorAll(".scorecard td.evidence")].some(e => e.textContent.includes("Ed25519 signatures verify"))`)
	shot(t, ctx, "agreements")
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`getComputedStyle(document.querySelector("header nav")).display === "none" && getComputedStyle(document.getElementById("print-scorecards")).display === "none"`))
	shot(t, ctx, "agreements-print")
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: ""}); err != nil {
		t.Fatal(err)
	}
	if !hidden {
		t.Error("the printed scorecards still show the navigation or the print button")
	}

	nav("continuity")
	waitJS(t, ctx, "the failed drill", `[...document.querySelectorAll("#view tbody tr")].some(r => r.textContent.includes("ui-drill") && r.textContent.includes("fail"))`)
	waitJS(t, ctx, "the signed report verified", `[...document.querySelectorAll("#view p.ok")].some(p => p.textContent.includes("signature verifies"))`)
	waitJS(t, ctx, "the RTO/RPO chart", `!!document.querySelector("#continuity-chart .uplot")`)
	shot(t, ctx, "continuity")

	nav("broker")
	waitJS(t, ctx, "one release and one refusal", `document.querySelector("#view p").textContent.includes("1 releases and 1 refusals")`)
	waitJS(t, ctx, "the refusal's reason", `[...document.querySelectorAll("#view tbody tr")].some(r => r.textContent.includes("refused") && r.textContent.includes("policy"))`)
	waitJS(t, ctx, "the broker chart", `!!document.querySelector("#broker-chart .uplot")`)
	shot(t, ctx, "broker")
}
