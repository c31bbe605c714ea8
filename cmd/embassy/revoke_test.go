package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/netlab"
	"github.com/digital-embassy/embassy/internal/pki"
)

// mtlsGet makes one request with the certificate in dir/NAME.crt and
// dir/NAME.key and reports whether the server answered at all (any HTTP
// status: the TLS handshake and the revocation check let it through).
func mtlsGet(t *testing.T, dir, name, url string) error {
	t.Helper()
	pair, pool, err := pki.TLSMaterial(pki.Files{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: "127.0.0.1",
		CurvePreferences: pki.PQCurves, MinVersion: tls.VersionTLS13}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		return &httpStatus{resp.StatusCode}
	}
	return nil
}

type httpStatus struct{ code int }

func (h *httpStatus) Error() string { return http.StatusText(h.code) }

// The home revokes a staff member's home certificate. A client without a
// certificate is refused by all four links below. Before, it reaches
// the daemon, the daemon's witness, a standalone host witness and the
// crisis service (operate over mutual TLS). After 'pki revoke', each of
// the four refuses it, and each refusal leaves a record: the daemon's and
// its witness's as access events pulled into the home's log, the
// standalone witness's in its log, operate's in its session journal and
// the home's log.
func TestHostileRevokedCertificateRefused(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	f.run("log")
	f.run("snapshot", "registry", writeSource(t, filepath.Join(f.dir, "src"), "id,name\n1,a\n"), "--class", "C1-I1-A1")
	staff := filepath.Join(f.dir, "staff")
	f.run("pki", "issue", "--role", "home", "--name", "laptop", "-o", staff)
	pub, _ := os.ReadFile(filepath.Join(f.home, "log", "log.pub"))
	crl := filepath.Join(f.home, "pki", pki.CRLFile)

	lu := f.issueSite("lu", "127.0.0.1")
	startHostedgeDaemon(t, lu, "--crl", filepath.Join(f.dir, "lu-crl.pem"), "--witness-listen", "127.0.0.1:0",
		"--witness-dir", filepath.Join(f.dir, "lu-wit"), "--witness-log", strings.TrimSpace(string(pub)))
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	var luWitness string
	for _, l := range strings.Split(lu.logs(), "\n") {
		if i := strings.Index(l, `policy_line="`); i >= 0 {
			luWitness = strings.Fields(strings.TrimSuffix(l[i+len(`policy_line="`):], `"`))[3]
		}
	}

	w := f.issueSite("ee-w", "127.0.0.1")
	var wlog lockedBuffer
	wc := f.cmd("witness", "serve", "--listen", "127.0.0.1:0", "--dir", filepath.Join(f.dir, "wdir"), "--name", "ee-w",
		"--log", strings.TrimSpace(string(pub)), "--ca", filepath.Join(w.certs, "ca.crt"), "--cert", filepath.Join(w.certs, "ee-w.crt"),
		"--key", filepath.Join(w.certs, "ee-w.key"), "--crl", crl)
	wout, _ := wc.StdoutPipe()
	wc.Stderr = &wlog
	if err := wc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlab.Kill(wc, 5*time.Second) })
	line := make([]byte, 4096)
	n, _ := wout.Read(line)
	fields := strings.Fields(string(line[:n]))
	if len(fields) != 4 {
		t.Fatalf("witness policy line %q", line[:n])
	}
	eeWitness := fields[3]

	op := f.issueSite("operate", "127.0.0.1")
	plan := filepath.Join(f.dir, "plan.yaml")
	os.WriteFile(plan, []byte("name: crisis\nhome: "+f.homeFingerprint()+"\nsites:\n  - {name: a, url: "+filepath.Join(f.dir, "site-a")+"}\ncustodians: [c0.key, c1.key]\nrto: 10m\n"+
		"datasets: [{name: registry, rpo: 24h}]\nservice:\n  population: {dataset: registry, path: register.csv}\n"), 0o644)
	opDir := filepath.Join(f.dir, "op")
	oc := f.cmd("operate", plan, "--reason", "revocation drill", "--listen", "127.0.0.1:0", "--dir", opDir,
		"--tls-cert", filepath.Join(op.certs, "operate.crt"), "--tls-key", filepath.Join(op.certs, "operate.key"),
		"--client-ca", filepath.Join(f.home, "pki", "ca.crt"), "--crl", crl)
	oc.Dir = f.dir
	var olog lockedBuffer
	oc.Stdout, oc.Stderr = &olog, &olog
	if err := oc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlab.Kill(oc, 10*time.Second) })
	var opAddr string
	deadline := time.Now().Add(2 * time.Minute)
	for opAddr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("operate did not start:\n%s", olog.String())
		}
		time.Sleep(50 * time.Millisecond) // polls for the file operate writes once serving
		b, _ := os.ReadFile(filepath.Join(opDir, "addr"))
		opAddr = string(b)
	}

	targets := map[string]string{
		"daemon":             "https://" + lu.addr + "/healthz",
		"daemon witness":     luWitness + "/latest",
		"standalone witness": eeWitness + "/latest",
		"operate":            "https://" + opAddr + "/healthz",
	}
	for name, url := range targets {
		if err := mtlsGet(t, staff, "laptop", url); err != nil {
			t.Fatalf("%s refused the unrevoked certificate: %v", name, err)
		}
	}
	// Requirement 14: a connection without a client certificate is refused
	// on every one of these links.
	for name, url := range targets {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, CurvePreferences: pki.PQCurves, MinVersion: tls.VersionTLS13}, DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(url)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s answered a client without a certificate: %d", name, resp.StatusCode)
		}
	}
	r := f.try("pki", "revoke", filepath.Join(staff, "laptop.crt"))
	serial := regexp.MustCompile(`\(serial ([0-9a-f]{1,40})\)`).FindStringSubmatch(r.stdout) // hex of a random number: leading zeros dropped
	if serial == nil {
		t.Fatalf("pki revoke names no serial:\n%s", r.stdout)
	}
	wantRun(t, "pki revoke", r.masked(serial[1], "SERIAL"), 0, lines{
		"revoked spiffe://hHHHHHHHHHHHHHHHHHHHH/role/home/laptop (serial SERIAL); CRL 1 signed (1 certificate revoked in all)",
		"  lu: CRL 1 installed",
	}, nil)
	for name, url := range targets {
		if err := mtlsGet(t, staff, "laptop", url); err == nil {
			t.Fatalf("%s still serves the revoked certificate", name)
		}
	}
	// Each refusal is on record, naming the certificate.
	const who = "/role/home/laptop"
	wantRun(t, "site events", f.try("site", "events"), 0, lines{"lu: 4 new host sessions, 0 new disclosures recorded"}, nil)
	logOut := f.run("--json", "log")
	// every entry as kind, actor, site, event, refused certificate and refusal,
	// sorted: the four links
	// are tried in map order, so their refusals arrive in any order
	var entries []struct {
		Kind, Actor, Site string
		Details           map[string]string
	}
	if err := json.Unmarshal([]byte(logOut), &entries); err != nil {
		t.Fatalf("log --json: %v\n%s", err, logOut)
	}
	var summary []string
	for _, e := range entries {
		l := []string{e.Kind, e.Actor}
		for _, v := range []string{e.Site, e.Details["event"], e.Details["by"], e.Details["detail"], e.Details["refused"]} {
			if v != "" {
				l = append(l, v)
			}
		}
		summary = append(summary, strings.Join(l, " "))
	}
	slices.Sort(summary)
	wantLines(t, "log entries", masked(strings.Join(summary, "\n")+"\n", serial[1], "SERIAL"), text(`
init home
key.unwrap home a
key.unwrap home a
key.unwrap home a operate
operate.session home activation
operate.session home client-refused spiffe://hHHHHHHHHHHHHHHHHHHHH/role/home/laptop certificate revoked: serial SERIAL (CRL 1)
pki.revoke home
session home lu denied 1 unauthenticated TLS connections from 127.0.0.1 since YYYY-MM-DDThh:mm:ssZ (1 failed handshakes, 0 refused over limits)
session home lu denied 2 unauthenticated TLS connections from 127.0.0.1 since YYYY-MM-DDThh:mm:ssZ (2 failed handshakes, 0 refused over limits)
session spiffe://hHHHHHHHHHHHHHHHHHHHH/role/home/laptop lu denied certificate revoked: serial SERIAL (CRL 1)
session spiffe://hHHHHHHHHHHHHHHHHHHHH/role/home/laptop lu denied witness: certificate revoked: serial SERIAL (CRL 1)
site.add home a
site.add home b
site.add home lu
snapshot home snapshot`))
	// substring: the standalone witness's log (times, addresses), not output
	if !strings.Contains(wlog.String(), "client refused") || !strings.Contains(wlog.String(), who) {
		t.Fatalf("the standalone witness did not log the refusal:\n%s", wlog.String())
	}
	ev, _ := os.ReadFile(filepath.Join(opDir, "events.jsonl"))
	if !bytes.Contains(ev, []byte("client-refused")) || !bytes.Contains(ev, []byte(who)) {
		t.Fatalf("operate's refusal is not journalled and logged:\n%s", ev)
	}
}

// lockedBuffer is a bytes.Buffer safe for a process's output and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A daemon started with --require-hardware-key operator: an operator
// certificate whose key was made in the TPM ('pki issue --tpm', here the
// reference simulator) connects and its client signs the handshake inside
// the TPM; a software-key operator certificate is refused, and the refusal
// is an access event the home pulls into its log.
func TestHostileSoftwareKeyRefusedWhereHardwareRequired(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	startHostedgeDaemon(t, lu, "--require-hardware-key", "operator")
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	hw := filepath.Join(f.dir, "hw")
	wantRun(t, "pki issue --tpm", f.try("pki", "issue", "--role", "operator", "--name", "ops-hw", "-o", hw, "--tpm", "--tpm-device", "sim:23").masked(f.dir, "DIR"), 0, lines{
		"issued operator certificate DIR/hw/ops-hw.crt for ops-hw (valid until YYYY-MM-DDThh:mm:ssZ)",
		"the key is held by the TPM sim:23; DIR/hw/ops-hw.tpmkey names it (no private key file)",
	}, nil)
	wantRun(t, "pki show", f.try("pki", "show", filepath.Join(hw, "ops-hw.crt")).masked(f.dir, "DIR"), 0, append(text(`
file:       DIR/hw/ops-hw.crt
identity:   spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops-hw
role:       operator
name:       ops-hw
home:       hHHHHHHHHHHHHHHHHHHHH
key:        hardware-bound (made in a TPM)
valid:      YYYY-MM-DDThh:mm:ssZ to YYYY-MM-DDThh:mm:ssZ (valid)`), rx(`serial:     [0-9a-f]{1,40}`)), nil)
	if _, err := os.Stat(filepath.Join(hw, "ops-hw.key")); err == nil {
		t.Fatal("a private key file was written for a TPM key")
	}
	soft := filepath.Join(f.dir, "soft")
	f.run("pki", "issue", "--role", "operator", "--name", "ops-soft", "-o", soft)

	pair, pool, err := pki.TLSMaterial(pki.Files{CA: filepath.Join(hw, "ca.crt"), Cert: filepath.Join(hw, "ops-hw.crt"), Key: filepath.Join(hw, "ops-hw.tpmkey")})
	if err != nil {
		t.Fatal(err)
	}
	tk := pair.PrivateKey.(*pki.TPMKey)
	defer tk.Close()
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: "127.0.0.1",
		CurvePreferences: pki.PQCurves, MinVersion: tls.VersionTLS13}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get("https://" + lu.addr + "/healthz")
	if err != nil {
		t.Fatalf("the TPM-held operator key was refused: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz with the TPM-held key: %d", resp.StatusCode)
	}
	if err := mtlsGet(t, soft, "ops-soft", "https://"+lu.addr+"/healthz"); err == nil {
		t.Fatal("a software-key operator connected where hardware keys are required")
	}
	wantRun(t, "site events", f.try("site", "events"), 0, lines{"lu: 3 new host sessions, 0 new disclosures recorded"}, nil)
	wantLines(t, "log", masked(f.run("--json", "log")), text(threeSitesLogHead+`  {
    "index": 4,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops-hw",
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
    "index": 5,
    "v": 1,
    "kind": "session",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "spiffe://hHHHHHHHHHHHHHHHHHHHH/role/operator/ops-soft",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "at": "YYYY-MM-DDThh:mm:ssZ",
      "detail": "certificate not hardware-bound: role operator needs a certificate whose key is held by a TPM ('embassy pki issue --tpm')",
      "event": "denied",
      "initiator": "host",
      "role": "operator"
    }
  },
  {
    "index": 6,
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
