package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/netlab"
)

// Positions used by the location tests.
const (
	tallinnAt    = "59.4370,24.7536"
	luxembourgAt = "49.6116,6.1319"
)

// startLocateWitness runs a standalone host witness over mutual TLS with
// its own site certificate and registers it in the home's log policy; it
// returns the witness's policy name.
func startLocateWitness(t *testing.T, f *fixture, name string) string {
	t.Helper()
	w := f.issueSite(name, "127.0.0.1")
	pub, err := os.ReadFile(filepath.Join(f.home, "log", "log.pub"))
	if err != nil {
		t.Fatal(err)
	}
	c := f.cmd("witness", "serve", "--listen", "127.0.0.1:0", "--dir", filepath.Join(f.dir, "wdir-"+name), "--name", name,
		"--log", strings.TrimSpace(string(pub)), "--ca", filepath.Join(w.certs, "ca.crt"),
		"--cert", filepath.Join(w.certs, name+".crt"), "--key", filepath.Join(w.certs, name+".key"))
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = io.Discard
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlab.Kill(c, 5*time.Second) })
	line := make([]byte, 4096)
	n, err := stdout.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(line[:n]))
	if len(fields) != 4 || fields[0] != "witness" {
		t.Fatalf("policy line: %q", line[:n])
	}
	f.run("witness", "add", fields[1], fields[2], fields[3])
	return fields[1]
}

// A host declares its site in Luxembourg; the home measures from Tallinn
// (1,607 km away) together with a host witness in Tallinn. Reached through
// a proxy adding 15 ms each way, the site's signed answers take at least
// 30 ms: light covers 4,497 km in that time, so the declared position is
// consistent (slowness proves nothing). Reached directly, over loopback,
// the site's key answers in well under a millisecond: it is within a few
// tens of km of Tallinn, not in Luxembourg, and the claim is contradicted
// (exit 3). Both bundles are signed by the home, logged and verify
// offline; an altered bundle does not.
func TestHostileLocationClaimContradicted(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	f.run("log")
	lu := f.issueSite("lu", "127.0.0.1")
	startHostedgeDaemon(t, lu, "--location", luxembourgAt, "--place", "Luxembourg", "--jurisdiction", "LU")
	px := &netlab.Proxy{Upstream: lu.addr, Delay: 15 * time.Millisecond}
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	f.run("site", "add", "lu", "--url", "embassy://"+px.Addr(), "--jurisdiction", "LU")
	wname := startLocateWitness(t, f, "tallinn-w")

	far := filepath.Join(f.dir, "far.json")
	out, errOut, code := f.result("site", "locate", "lu", "--from", tallinnAt, "--witness-at", wname+"="+tallinnAt, "--samples", "3", "-o", far)
	wantRun(t, "site 30 ms away declared 1607 km away", runResult{code, out, errOut}.masked(f.dir, "DIR"), 0, lines{
		"site lu of home hHHHHHHHHHHHHHHHHHHHH at YYYY-MM-DDThh:mm:ssZ",
		"  declared position 49.6116,6.1319",
		rx(`  home     hHHHHHHHHHHHHHHHHHHHH min RTT [0-9.]+[µm]s +at most +\d+ km \(fibre +\d+ km\); declared   1614 km away: consistent`),
		rx(`  witness  tallinn-w            min RTT [0-9.]+[µm]s +at most +\d+ km \(fibre +\d+ km\); declared   1614 km away: consistent`),
		"  verdict: consistent",
		rx(`evidence: DIR/far\.json \(sha256 [0-9a-f]{64}\), recorded in the log`),
	}, nil)
	b := readBundle(t, far)
	if len(b.Witnesses) != 1 || b.Witnesses[0].Answer == nil {
		t.Fatalf("the witness did not measure: %+v", b.Witnesses)
	}
	for _, d := range b.Verdict.Discs {
		t.Logf("through the proxy: %s min RTT %v, at most %.0f km", d.Name, d.MinRTT, d.ProofKm)
		if d.MinRTT < 30*time.Millisecond {
			t.Fatalf("%s measured %v through a 2x15 ms proxy", d.Name, d.MinRTT)
		}
	}

	f.run("site", "remove", "lu")
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	near := filepath.Join(f.dir, "near.json")
	out, errOut, code = f.result("site", "locate", "lu", "--from", tallinnAt, "--witness-at", wname+"="+tallinnAt, "--samples", "3", "-o", near)
	wantRun(t, "site answering in <1 ms declared 1607 km away", runResult{code, out, errOut}.masked(f.dir, "DIR"), 3, lines{
		"site lu of home hHHHHHHHHHHHHHHHHHHHH at YYYY-MM-DDThh:mm:ssZ",
		"  declared position 49.6116,6.1319",
		rx(`  home     hHHHHHHHHHHHHHHHHHHHH min RTT [0-9.]+[µm]s +at most +\d+ km \(fibre +\d+ km\); declared   1614 km away: contradicted`),
		rx(`  witness  tallinn-w            min RTT [0-9.]+[µm]s +at most +\d+ km \(fibre +\d+ km\); declared   1614 km away: contradicted`),
		"  verdict: contradicted",
		rx(`    home hHHHHHHHHHHHHHHHHHHHH answered in [0-9.]+[µm]s: the responder is at most \d+ km away even at the speed of light, but the declared position is 1614 km away`),
		rx(`    witness tallinn-w answered in [0-9.]+[µm]s: the responder is at most \d+ km away even at the speed of light, but the declared position is 1614 km away`),
		rx(`evidence: DIR/near\.json \(sha256 [0-9a-f]{64}\), recorded in the log`),
	}, lines{
		rx(`embassy: error: site lu: location contradicted: home hHHHHHHHHHHHHHHHHHHHH answered in [0-9.]+[µm]s: the responder is at most \d+ km away even at the speed of light, but the declared position is 1614 km away; witness tallinn-w answered in [0-9.]+[µm]s: the responder is at most \d+ km away even at the speed of light, but the declared position is 1614 km away`),
		"embassy: hint: the site's key answered faster than its declared position allows: ask the host where the site really is (the evidence is in DIR/near.json)",
	})
	b = readBundle(t, near)
	if b.Verdict.Result != "contradicted" || len(b.Verdict.Discs) != 2 {
		t.Fatalf("verdict: %+v", b.Verdict)
	}
	for _, d := range b.Verdict.Discs {
		t.Logf("direct: %s min RTT %v, at most %.0f km, declared %.0f km", d.Name, d.MinRTT, d.ProofKm, d.DeclaredKm)
		if d.State != "contradicted" || d.ProofKm >= d.DeclaredKm {
			t.Fatalf("disc %+v does not contradict", d)
		}
	}

	for file, want := range map[string]lines{far: text(`
DIR/far.json: signatures ok (home hHHHHHHHHHHHHHHHHHHHH, epoch 1, home-bound true)`), near: text(`
DIR/near.json: signatures ok (home hHHHHHHHHHHHHHHHHHHHH, epoch 1, home-bound true)`)} {
		if file == far {
			want = append(want, lines{
				"site lu of home hHHHHHHHHHHHHHHHHHHHH at YYYY-MM-DDThh:mm:ssZ",
				"  declared position 49.6116,6.1319",
				rx(`  home     hHHHHHHHHHHHHHHHHHHHH min RTT [0-9.]+[µm]s +at most +\d+ km \(fibre +\d+ km\); declared   1614 km away: consistent`),
				rx(`  witness  tallinn-w            min RTT [0-9.]+[µm]s +at most +\d+ km \(fibre +\d+ km\); declared   1614 km away: consistent`),
				"  verdict: consistent",
			}...)
		} else {
			want = append(want, lines{
				"site lu of home hHHHHHHHHHHHHHHHHHHHH at YYYY-MM-DDThh:mm:ssZ",
				"  declared position 49.6116,6.1319",
				rx(`  home     hHHHHHHHHHHHHHHHHHHHH min RTT [0-9.]+[µm]s +at most +\d+ km \(fibre +\d+ km\); declared   1614 km away: contradicted`),
				rx(`  witness  tallinn-w            min RTT [0-9.]+[µm]s +at most +\d+ km \(fibre +\d+ km\); declared   1614 km away: contradicted`),
				"  verdict: contradicted",
				rx(`    home hHHHHHHHHHHHHHHHHHHHH answered in [0-9.]+[µm]s: the responder is at most \d+ km away even at the speed of light, but the declared position is 1614 km away`),
				rx(`    witness tallinn-w answered in [0-9.]+[µm]s: the responder is at most \d+ km away even at the speed of light, but the declared position is 1614 km away`),
			}...)
		}
		out, errOut, code := f.result("site", "locate", "--verify", file)
		wantRun(t, "verify "+file, runResult{code, out, errOut}.masked(f.dir, "DIR"), 0, want, nil)
	}
	// The home cannot make the near site look far after the fact: the
	// bundle's round trips are under the home's signature.
	raw, _ := os.ReadFile(near)
	var doc map[string]json.RawMessage
	json.Unmarshal(raw, &doc)
	var body map[string]any
	json.Unmarshal(doc["body"], &body)
	body["home_rtt_ns"] = []int64{int64(40 * time.Millisecond), int64(40 * time.Millisecond), int64(40 * time.Millisecond)}
	doc["body"], _ = json.Marshal(body)
	forged, _ := json.Marshal(doc)
	bad := filepath.Join(f.dir, "forged.json")
	os.WriteFile(bad, forged, 0o644)
	wantRun(t, "altered bundle", f.try("site", "locate", "--verify", bad).masked(f.dir, "DIR"), 3, nil, lines{
		"embassy: error: DIR/forged.json: location-evidence: signature does not verify",
		"embassy: hint: the evidence was altered or is not location evidence of this home",
	})
	logOut := f.run("--json", "log")
	// substring: the log as JSON, not the point here: two site.locate entries, one contradicted
	if strings.Count(logOut, `"site.locate"`) != 2 || !strings.Contains(logOut, `"result": "contradicted"`) {
		t.Fatalf("the evidence is not recorded in the log:\n%s", logOut)
	}
}

type testBundle struct {
	Witnesses []struct {
		Name   string          `json:"name"`
		Answer json.RawMessage `json:"answer"`
	} `json:"witnesses"`
	Verdict struct {
		Result string `json:"result"`
		Discs  []struct {
			Name       string        `json:"name"`
			MinRTT     time.Duration `json:"min_rtt_ns"`
			ProofKm    float64       `json:"proof_km"`
			DeclaredKm float64       `json:"declared_km"`
			State      string        `json:"state"`
		} `json:"discs"`
	} `json:"verdict"`
}

func readBundle(t *testing.T, file string) testBundle {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Body testBundle `json:"body"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Body
}
