package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/netlab"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// The host-facing edges, played by a hostile host against the real
// embassy and embassyd binaries (docs/threats/hostedge.md).

// startHostedgeDaemon runs embassyd for s with extra flags. Its listeners
// bind 127.0.0.1:0 themselves (pass "--witness-listen", "127.0.0.1:0" for
// the witness's) and the addresses are read from its log once it serves:
// no port is freed and then reused.
func startHostedgeDaemon(t *testing.T, s *hostSite, extra ...string) {
	t.Helper()
	args := append([]string{"--listen", "127.0.0.1:0", "--store", s.store, "--create",
		"--ca", filepath.Join(s.certs, "ca.crt"), "--cert", filepath.Join(s.certs, s.name+".crt"), "--key", filepath.Join(s.certs, s.name+".key")}, extra...)
	s.cmd = exec.Command(embassyd(t), args...)
	s.cmd.Stderr = lockedWriter{&s.logLock, &s.log}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := s.cmd
	t.Cleanup(func() { netlab.Kill(cmd, 5*time.Second) })
	witness := slices.Contains(extra, "--witness-listen")
	deadline := time.After(20 * time.Second)
	for {
		logs := s.logs()
		// substring: polls the daemon's log (times, addresses) for the line that it is up
		if m := listening.FindStringSubmatch(logs); m != nil && (!witness || strings.Contains(logs, "policy_line=")) {
			s.addr = m[1]
			return
		}
		select {
		case <-deadline:
			t.Fatalf("embassyd logged no listening address within 20s:\n%s", logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func operatorClient(t *testing.T, f *fixture, addr string) *remote.Backend {
	t.Helper()
	ops := filepath.Join(f.dir, "ops")
	if _, err := os.Stat(ops); err != nil {
		f.run("pki", "issue", "--role", "operator", "--name", "ops", "-o", ops)
	}
	b, err := remote.New(context.Background(), remote.Config{Host: addr, ExpectSite: "lu",
		Files: pki.Files{CA: filepath.Join(ops, "ca.crt"), Cert: filepath.Join(ops, "ops.crt"), Key: filepath.Join(ops, "ops.key")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// A host operator opens a session; then someone floods the daemon with
// 1,600 certificate-less handshakes from another address. When the home
// pulls events, the operator's session is there and recorded in the log;
// the flood is a handful of aggregated, counted refusals, not 1,600 junk
// sessions; the events file stays small.
func TestHostedgeFloodKeepsOperatorSession(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	events := filepath.Join(f.dir, "lu-events.jsonl")
	startHostedgeDaemon(t, lu, "--events-file", events)
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	op := operatorClient(t, f, lu.addr)
	if err := op.Health(context.Background()); err != nil {
		t.Fatal(err)
	}

	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for range 1600 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := tls.DialWithDialer(d, "tcp", lu.addr, &tls.Config{InsecureSkipVerify: true, CurvePreferences: pki.PQCurves})
			if err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
	wg.Wait()

	var res []struct {
		Site     string `json:"site"`
		Sessions int    `json:"sessions"`
		Error    string `json:"error"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "site", "events")), &res); err != nil || len(res) != 1 || res[0].Error != "" {
		t.Fatalf("site events: %v %+v", err, res)
	}
	if res[0].Sessions < 2 || res[0].Sessions > 14 {
		t.Fatalf("%d host sessions recorded, want the operator's plus a few aggregated refusals", res[0].Sessions)
	}
	// the operator's session, then the home's and the aggregated refusals
	want := lines{
		"INDEX  TIME                 KIND      ACTOR                                             SITE  DATASET  OBJECT  REASON",
		"0      YYYY-MM-DD hh:mm:ss  init      home                                              -     -        -       -",
		"1      YYYY-MM-DD hh:mm:ss  site.add  home                                              a     -        -       -",
		"2      YYYY-MM-DD hh:mm:ss  site.add  home                                              b     -        -       -",
		"3      YYYY-MM-DD hh:mm:ss  site.add  home                                              lu    -        -       -",
		"4      YYYY-MM-DD hh:mm:ss  session   spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops  lu    -        -       -",
	}
	for i := 5; i < 4+res[0].Sessions; i++ {
		want = append(want, fmt.Sprintf("%-7dYYYY-MM-DD hh:mm:ss  session   home                                              lu    -        -       -", i))
	}
	n := 4 + res[0].Sessions
	want = append(want, fmt.Sprintf("%d of %d entries; checkpoint %d cosigned by the witness quorum", n, n, n))
	wantLines(t, "log", masked(f.run("log")), want)
	b, _ := os.ReadFile(events)
	if n := strings.Count(string(b), "\n"); n > 40 {
		t.Fatalf("events file has %d lines after the flood", n)
	}
	// substring: the events file (JSON lines with times and ports), not output: its fields
	if !strings.Contains(string(b), `"remote":"127.0.0.2"`) || !strings.Contains(string(b), `"count":1024`) {
		t.Fatalf("the flood is not counted per source in the events file:\n%s", b)
	}
}

// The home revokes the operator's certificate: the CRL reaches the daemon,
// the operator is refused, and the refusal is an event the home pulls into
// its log (with the serial).
func TestHostedgeRevokedOperatorRefused(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	startHostedgeDaemon(t, lu, "--crl", filepath.Join(f.dir, "lu-crl.pem"))
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	op := operatorClient(t, f, lu.addr)
	if err := op.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := f.try("pki", "revoke", filepath.Join(f.dir, "ops", "ops.crt"))
	serial := regexp.MustCompile(`\(serial ([0-9a-f]{1,40})\)`).FindStringSubmatch(r.stdout)
	if serial == nil {
		t.Fatalf("pki revoke names no serial:\n%s", r.stdout)
	}
	wantRun(t, "pki revoke", r.masked(serial[1], "SERIAL"), 0, lines{
		"revoked spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops (serial SERIAL); CRL 1 signed (1 certificate revoked in all)",
		"  lu: CRL 1 installed",
	}, nil)
	op.Close()
	if _, err := remote.New(context.Background(), remote.Config{Host: lu.addr, Files: pki.Files{CA: filepath.Join(f.dir, "ops", "ca.crt"),
		Cert: filepath.Join(f.dir, "ops", "ops.crt"), Key: filepath.Join(f.dir, "ops", "ops.key")}}); err == nil {
		t.Fatal("the revoked operator connected")
	}
	wantRun(t, "site events", f.try("site", "events"), 0, lines{"lu: 3 new host sessions, 0 new disclosures recorded"}, nil)
	// the revocation, the operator's refused session with the serial
	wantLines(t, "log", masked(f.run("--json", "log"), serial[1], "SERIAL"), text(threeSitesLogHead+`  {
    "index": 4,
    "v": 1,
    "kind": "pki.revoke",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "home",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "object": "1",
    "details": {
      "crl_number": "1",
      "revoked": "1",
      "serials": "SERIAL"
    }
  },
  {
    "index": 5,
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
    "index": 6,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "certificate revoked: serial SERIAL (CRL 1)",
      "event": "denied",
      "initiator": "host",
      "role": "operator"
    }
  },
  {
    "index": 7,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "home",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "1 unauthenticated TLS connections from 127.0.0.1 since YYYY-MM-DDThh:mm:ssZ (1 failed handshakes, 0 refused over limits)",
      "event": "denied",
      "initiator": "host",
      "role": ""
    }
  }
]`))
}

// A host files a disclosure whose text carries terminal escape sequences:
// the daemon refuses it; recorded at the home anyway (disclose), it is shown
// escaped, never raw.
func TestHostedgeDisclosureEscapes(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	startHostedgeDaemon(t, lu)
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	op := operatorClient(t, f, lu.addr)
	evil := "ops\x1b[2J\x1b]0;owned\x07"
	err := op.Disclose(context.Background(), api.Disclosure{Reason: "HOST_INITIATED_SERVICE", Who: evil, What: "disk\u202eevil"})
	if want := "disclose: daemon: disclosure text must be valid UTF-8 without control characters (400)"; err == nil || err.Error() != want {
		t.Fatalf("daemon accepted a disclosure with escape sequences: %v, want %q", err, want)
	}
	wantRun(t, "disclose", f.try("disclose", "--site", "lu", "--reason", "HOST_INITIATED_SERVICE", "--who", evil, "--what", "rack \x1b[31mB3"), 0,
		lines{"Logged disclosure 4: HOST_INITIATED_SERVICE at lu (0s after the access)"}, nil)
	// escaped as Go does (\x1b), never raw
	wantRun(t, "disclosures", f.try("disclosures").masked(), 0, text(`
INDEX  ACCESS AT         SITE  REASON                  ACCESS   WHO                         WHAT             DELAY  STATUS
4      YYYY-MM-DD hh:mm  lu    HOST_INITIATED_SERVICE  console  ops\x1b[2J\x1b]0;owned\x07  rack \x1b[31mB3  0s     on time
1 disclosures; delay p50 0s, p99 0s, max 0s`), nil)
	wantRun(t, "log", f.try("log").masked(), 0, text(`
INDEX  TIME                 KIND        ACTOR                       SITE  DATASET  OBJECT           REASON
0      YYYY-MM-DD hh:mm:ss  init        home                        -     -        -                -
1      YYYY-MM-DD hh:mm:ss  site.add    home                        a     -        -                -
2      YYYY-MM-DD hh:mm:ss  site.add    home                        b     -        -                -
3      YYYY-MM-DD hh:mm:ss  site.add    home                        lu    -        -                -
4      YYYY-MM-DD hh:mm:ss  disclosure  ops\x1b[2J\x1b]0;owned\x07  lu    -        rack \x1b[31mB3  HOST_INITIATED_SERVICE
5 of 5 entries; checkpoint 5 cosigned by the witness quorum`), nil)
}

// site list never shows an S3 secret key, in the URL or in the error of an
// unreachable site.
func TestHostedgeSiteListRedactsSecrets(t *testing.T) {
	f := newFixture(t)
	const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
	cfg := filepath.Join(f.home, "embassy.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "sites:\n", "sites:\n  - name: s3lu\n    url: s3://AKIDEXAMPLE:"+secret+"@127.0.0.1:1/bucket?tls=false\n    jurisdiction: LU\n", 1))
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const refused = `unreachable: open bucket on s3://127.0.0.1:1/bucket?tls=false: operation error S3: HeadBucket, https response error StatusCode: 0, RequestID: , HostID: , request send failed, Head "http://127.0.0.1:1/bucket": dial tcp 127.0.0.1:1: connect: connection refused`
	want := map[string]lines{
		"site": { // the URL column is as wide as the temp dir's path
			rx(`NAME  JURISDICTION  OPERATOR  DISTANCE  URL +STATUS`),
			rx(regexp.QuoteMeta("s3lu  LU                      -         s3://AKIDEXAMPLE:%5Bredacted%5D@127.0.0.1:1/bucket?tls=false") + " +" + regexp.QuoteMeta(refused)),
			"a     LU                      -         file://DIR/site-a  ok",
			"b     CH                      -         file://DIR/site-b  ok",
		},
		"--json": text(`
[
  {
    "name": "s3lu",
    "jurisdiction": "LU",
    "url": "s3://AKIDEXAMPLE:%5Bredacted%5D@127.0.0.1:1/bucket?tls=false",
    "status": "` + strings.ReplaceAll(refused, `"`, `\"`) + `"
  },
  {
    "name": "a",
    "jurisdiction": "LU",
    "url": "file://DIR/site-a",
    "status": "ok"
  },
  {
    "name": "b",
    "jurisdiction": "CH",
    "url": "file://DIR/site-b",
    "status": "ok"
  }
]`),
	}
	for _, args := range [][]string{{"site", "list"}, {"--json", "site", "list"}} {
		wantRun(t, strings.Join(args, " "), f.try(args...).masked(f.dir, "DIR"), 3, want[args[0]], nil)
	}
}

// Production binaries ignore EMBASSY_NOW: the policy clock cannot be moved
// by whoever sets the environment.
func TestHostedgeEmbassyNowIgnoredInProduction(t *testing.T) {
	f := newFixture(t)
	c := f.cmd("agreement", "list")
	c.Env = append(c.Env, "EMBASSY_NOW=2000-01-01")
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		t.Fatalf("agreement list with EMBASSY_NOW: %v\n%s%s", err, out.String(), errb.String())
	}
	wantRun(t, "agreement list with EMBASSY_NOW", runResult{0, out.String(), errb.String()}, 0,
		lines{"No agreements installed. Install one with 'embassy agreement add FILE'."},
		lines{"embassy: warning: EMBASSY_NOW is ignored: only test builds move the policy clock"})
}

// Writing a dataset of integrity level I3 while the log policy names only
// the home's witnesses warns that the home could rewrite its history.
func TestHostedgeHomeAlonePolicyWarnsForI3(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("register"), 0o644)
	wantRun(t, "snapshot of an I3 dataset under a home-alone policy", f.try("snapshot", "land-register", src, "--class", "restricted"), 0, lines{
		rx(`snapshot [0-9a-f]{8} of land-register saved`),
		"  1 files, 0 dirs, 8 B read (0 unchanged files reused)",
		rx(`  2 new blobs, \d+ B new data stored as \d+ B, in \d+\.\ds`),
		"  written to a, b",
	}, lines{"embassy: warning: dataset land-register is of integrity level I3, which needs a log witness outside the home: the log policy's quorum can be met by the home's own witnesses alone: it names no witness outside the home; add a host site's witness with 'embassy witness add NAME VKEY URL'"})
	wantRun(t, "snapshot of an I1 dataset", f.try("snapshot", "open-data", src, "--class", "public"), 0, lines{
		rx(`snapshot [0-9a-f]{8} of open-data saved`),
		"  1 files, 0 dirs, 8 B read (0 unchanged files reused)",
		rx(`  2 new blobs, \d+ B new data stored as \d+ B, in \d+\.\ds`),
		"  written to a, b",
	}, nil)
}

// A standalone host witness over mutual TLS: the home's log reaches it with
// the home's certificate and gets its cosignature; a client without a
// certificate never reaches add-checkpoint.
func TestHostedgeWitnessMutualTLS(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	w := f.issueSite("lu-w", "127.0.0.1")
	pub, err := os.ReadFile(filepath.Join(f.home, "log", "log.pub"))
	if err != nil {
		f.run("log") // creates the log and its key
		if pub, err = os.ReadFile(filepath.Join(f.home, "log", "log.pub")); err != nil {
			t.Fatal(err)
		}
	}
	c := f.cmd("witness", "serve", "--listen", "127.0.0.1:0", "--dir", filepath.Join(f.dir, "wdir"), "--name", "lu-witness",
		"--log", strings.TrimSpace(string(pub)), "--ca", filepath.Join(w.certs, "ca.crt"),
		"--cert", filepath.Join(w.certs, "lu-w.crt"), "--key", filepath.Join(w.certs, "lu-w.key"))
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
	wantLines(t, "witness serve's policy line", string(line[:n]), lines{rx(`witness lu-witness lu-witness\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44} https://127\.0\.0\.1:\d+`)})
	fields := strings.Fields(string(line[:n]))
	f.run("witness", "add", fields[1], fields[2], fields[3])
	f.run("disclose", "--site", "a", "--reason", "HOST_INITIATED_SERVICE", "--who", "ops", "--what", "disk swap")
	var last string
	for _, l := range strings.Split(strings.TrimSpace(f.run("log")), "\n") {
		// substring: picks the disclosure entry's index out of the log
		if strings.Contains(l, "disclosure") {
			last = strings.Fields(l)[0]
		}
	}
	rc := filepath.Join(f.dir, "r.proof")
	f.run("audit", "receipt", last, "-o", rc)
	b, _ := os.ReadFile(rc)
	// substring: the receipt's cosignature line holds a random signature
	if !strings.Contains(string(b), "— lu-witness ") {
		t.Fatalf("receipt not cosigned by the host witness:\n%s", b)
	}
	wantRun(t, "audit verify with a host witness", f.try("audit", "verify", rc).masked(f.dir, "DIR"), 0, lines{
		"OK: entry 4 (disclosure, YYYY-MM-DDThh:mm:ssZ) is in digital-embassy.invalid/hHHHHHHHHHHHHHHHHHHHH/audit at tree size 5, cosigned by the witness quorum (policy DIR/home/log/policy)",
	}, nil)
	addr := strings.TrimPrefix(fields[3], "https://")
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, CurvePreferences: pki.PQCurves})
	if err == nil {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Write([]byte("POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nold 0"))
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		conn.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate got an answer from the witness")
	}
}

// embassyd's witness speaks mutual TLS: the home's log is cosigned through
// it, and an operator's certificate (of the same CA) is refused, the
// refusal becoming an access event that the home pulls into its log.
func TestHostedgeDaemonWitnessRefusalLogged(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	f.run("log")
	pub, err := os.ReadFile(filepath.Join(f.home, "log", "log.pub"))
	if err != nil {
		t.Fatal(err)
	}
	lu := f.issueSite("lu", "127.0.0.1")
	startHostedgeDaemon(t, lu, "--witness-listen", "127.0.0.1:0", "--witness-dir", filepath.Join(f.dir, "lu-wit"), "--witness-log", strings.TrimSpace(string(pub)))
	var pl []string
	for _, l := range strings.Split(lu.logs(), "\n") {
		if i := strings.Index(l, `policy_line="`); i >= 0 {
			pl = strings.Fields(strings.TrimSuffix(l[i+len(`policy_line="`):], `"`))
		}
	}
	if len(pl) != 4 || !strings.HasPrefix(pl[3], "https://127.0.0.1:") {
		t.Fatalf("no https policy line in the daemon's log:\n%s", lu.logs())
	}
	waddr := strings.TrimPrefix(pl[3], "https://")
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	f.run("witness", "add", pl[1], pl[2], pl[3])
	f.run("disclose", "--site", "lu", "--reason", "HOST_INITIATED_SERVICE", "--who", "ops", "--what", "disk swap")

	ops := filepath.Join(f.dir, "ops")
	f.run("pki", "issue", "--role", "operator", "--name", "ops", "-o", ops)
	pair, pool, err := pki.TLSMaterial(pki.Files{CA: filepath.Join(ops, "ca.crt"), Cert: filepath.Join(ops, "ops.crt"), Key: filepath.Join(ops, "ops.key")})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", waddr, pki.ClientTLS(pair, pool, "", ""))
	if err == nil {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("operator certificate at the witness: %v, want a refused handshake", err)
	}
	wantRun(t, "site events", f.try("site", "events"), 0, lines{"lu: 1 new host sessions, 0 new disclosures recorded"}, nil)
	// the witness's refusal of the operator is the last entry
	wantLines(t, "log", masked(f.run("--json", "log"), pl[3], "WURL", pl[2], "VKEY"), text(threeSitesLogHead+`  {
    "index": 4,
    "v": 1,
    "kind": "witness.change",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "home",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "object": "lu-witness",
    "details": {
      "action": "add",
      "url": "WURL",
      "vkey": "VKEY"
    }
  },
  {
    "index": 5,
    "v": 1,
    "kind": "disclosure",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "object": "disk swap",
    "reason": "HOST_INITIATED_SERVICE",
    "details": {
      "access": "console",
      "at": "YYYY-MM-DDThh:mm:ssZ"
    }
  },
  {
    "index": 6,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "witness: a certificate of role operator may not connect here",
      "event": "denied",
      "initiator": "host",
      "role": "operator"
    }
  }
]`))
}
