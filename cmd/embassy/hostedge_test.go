package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
	log := f.run("log")
	if !strings.Contains(log, "/role/operator/ops") {
		t.Fatalf("the operator's session is not in the log:\n%s", log)
	}
	b, _ := os.ReadFile(events)
	if n := strings.Count(string(b), "\n"); n > 40 {
		t.Fatalf("events file has %d lines after the flood", n)
	}
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
	out := f.run("pki", "revoke", filepath.Join(f.dir, "ops", "ops.crt"))
	if !strings.Contains(out, "lu: CRL 1 installed") {
		t.Fatalf("revoke:\n%s", out)
	}
	op.Close()
	if _, err := remote.New(context.Background(), remote.Config{Host: lu.addr, Files: pki.Files{CA: filepath.Join(f.dir, "ops", "ca.crt"),
		Cert: filepath.Join(f.dir, "ops", "ops.crt"), Key: filepath.Join(f.dir, "ops", "ops.key")}}); err == nil {
		t.Fatal("the revoked operator connected")
	}
	f.run("site", "events")
	log := f.run("--json", "log")
	if !strings.Contains(log, "pki.revoke") || !strings.Contains(log, "revoked") {
		t.Fatalf("revocation or refusal missing from the log:\n%s", log)
	}
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
	if err == nil || !strings.Contains(err.Error(), "control characters") {
		t.Fatalf("daemon accepted a disclosure with escape sequences: %v", err)
	}
	f.run("disclose", "--site", "lu", "--reason", "HOST_INITIATED_SERVICE", "--who", evil, "--what", "rack \x1b[31mB3")
	out, _, _ := f.result("disclosures")
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `ops\x1b[2J`) {
		t.Fatalf("disclosure shown with raw control characters:\n%q", out)
	}
	logOut := f.run("log")
	if strings.ContainsAny(logOut, "\x1b\x07") {
		t.Fatalf("log shows raw control characters:\n%q", logOut)
	}
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
	for _, args := range [][]string{{"site", "list"}, {"--json", "site", "list"}} {
		out, errOut, _ := f.result(args...)
		if strings.Contains(out+errOut, secret) || strings.Contains(out+errOut, "bPxRfiCY") {
			t.Fatalf("%v shows the secret:\n%s\n%s", args, out, errOut)
		}
		if !strings.Contains(out, "s3lu") || !strings.Contains(out, "redacted") {
			t.Fatalf("%v: the S3 site is missing or not redacted:\n%s", args, out)
		}
	}
}

// Production binaries ignore EMBASSY_NOW: the policy clock cannot be moved
// by whoever sets the environment.
func TestHostedgeEmbassyNowIgnoredInProduction(t *testing.T) {
	f := newFixture(t)
	c := f.cmd("agreement", "list")
	c.Env = append(c.Env, "EMBASSY_NOW=2000-01-01")
	out, _ := c.CombinedOutput()
	if !strings.Contains(string(out), "EMBASSY_NOW is ignored") {
		t.Fatalf("agreement list with EMBASSY_NOW:\n%s", out)
	}
}

// Writing a dataset of integrity level I3 while the log policy names only
// the home's witnesses warns that the home could rewrite its history.
func TestHostedgeHomeAlonePolicyWarnsForI3(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("register"), 0o644)
	_, errOut, code := f.result("snapshot", "land-register", src, "--class", "restricted")
	if code != 0 || !strings.Contains(errOut, "needs a log witness outside the home") {
		t.Fatalf("snapshot of an I3 dataset under a home-alone policy: exit %d\n%s", code, errOut)
	}
	_, errOut, _ = f.result("snapshot", "open-data", src, "--class", "public")
	if strings.Contains(errOut, "witness outside the home") {
		t.Fatalf("warned for an I1 dataset:\n%s", errOut)
	}
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
	fields := strings.Fields(string(line[:n]))
	if len(fields) != 4 || fields[0] != "witness" || !strings.HasPrefix(fields[3], "https://") {
		t.Fatalf("policy line: %q", line[:n])
	}
	f.run("witness", "add", fields[1], fields[2], fields[3])
	f.run("disclose", "--site", "a", "--reason", "HOST_INITIATED_SERVICE", "--who", "ops", "--what", "disk swap")
	var last string
	for _, l := range strings.Split(strings.TrimSpace(f.run("log")), "\n") {
		if strings.Contains(l, "disclosure") {
			last = strings.Fields(l)[0]
		}
	}
	rc := filepath.Join(f.dir, "r.proof")
	f.run("audit", "receipt", last, "-o", rc)
	b, _ := os.ReadFile(rc)
	if !strings.Contains(string(b), "— lu-witness ") {
		t.Fatalf("receipt not cosigned by the host witness:\n%s", b)
	}
	_, errOut, code := f.result("audit", "verify", rc)
	if code != 0 || strings.Contains(errOut, "witnesses alone") {
		t.Fatalf("audit verify with a host witness: %d %s", code, errOut)
	}
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
	f.run("site", "events")
	log := f.run("--json", "log")
	if !strings.Contains(log, "witness: a certificate of role operator may not connect here") {
		t.Fatalf("the witness's refusal of the operator is not in the log:\n%s", log)
	}
}
