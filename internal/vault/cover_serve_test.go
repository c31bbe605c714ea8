package vault

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
)

// TestCoverServeBroker: without the home's CA the broker does not start
// and says how to make one; a bad address is a usage error; a Ready error
// stops it; served, it answers GET /v1/info over TLS 1.3 with a broker
// certificate of the home's CA for the hosts asked, and stops with the
// context.
func TestCoverServeBroker(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	err := v.ServeBroker(ctx, BrokerServe{Listen: "127.0.0.1:0"})
	pkiDir := filepath.Join(v.Home.Dir, "pki")
	wantCode(t, err, hint.CodeError, "open "+filepath.Join(pkiDir, pki.CACertFile)+": no such file or directory", "create the home's CA with 'embassy pki init'")
	if err := (&Vault{Home: v.Home}).ServeBroker(ctx, BrokerServe{}); err == nil || err.Error() != "broker: the vault is not open" {
		t.Fatalf("broker over a vault not open: %v", err)
	}
	ca, err := pki.Init(pkiDir, v.Home.Config.Home, testNow)
	if err != nil {
		t.Fatal(err)
	}
	err = v.ServeBroker(ctx, BrokerServe{Listen: "127.0.0.1:99999"})
	wantCode(t, err, hint.CodeUsage, "listen tcp: address 99999: invalid port", "")
	stop := errors.New("not today")
	if err := v.ServeBroker(ctx, BrokerServe{Listen: "127.0.0.1:0", Ready: func(net.Addr) error { return stop }}); err != stop {
		t.Fatalf("Ready's error: broker returned %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- v.ServeBroker(cctx, BrokerServe{Listen: "127.0.0.1:0", Hosts: []string{"127.0.0.1"},
			Ready: func(a net.Addr) error { addrc <- a; return nil }})
	}()
	addr := <-addrc
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	resp, err := c.Get("https://" + addr.String() + "/v1/info")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var info struct{ Home string }
	jerr := json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	leaf := resp.TLS.PeerCertificates[0]
	if id, err := pki.Identify(leaf); err != nil || id.Role != pki.RoleSite || id.Name != "broker" || id.Home != v.Home.Config.Home {
		t.Errorf("broker certificate identity %+v (%v)", id, err)
	}
	if resp.StatusCode != http.StatusOK || jerr != nil || info.Home != v.Home.Config.Home || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("GET /v1/info: %s %+v (%v), TLS %x", resp.Status, info, jerr, resp.TLS.Version)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("broker after its context ended: %v, want context.Canceled", err)
	}
}

// TestCoverServeWitness: a witness with no log refuses to start; logs
// come from --log and DIR/logs (comments skipped); with PQ a second
// witness is served under /pq; ready gets the policy lines; with TLS
// files it needs a site certificate and serves https; it stops with its
// context.
func TestCoverServeWitness(t *testing.T) {
	dir := t.TempDir()
	wdir := filepath.Join(dir, "w")
	err := ServeWitness(context.Background(), WitnessServeRequest{Listen: "127.0.0.1:0", Dir: wdir}, nil)
	wantCode(t, err, hint.CodeUsage, "no log to witness", "pass --log VKEY (the home's log/log.pub)")
	_, logKey, err := note.GenerateKey(rand.Reader, "example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(wdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wdir, "logs"), []byte("# the home's log\nlog "+logKey+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := func(req WitnessServeRequest) ([]WitnessLine, func() error) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		linesc := make(chan []WitnessLine, 1)
		done := make(chan error, 1)
		go func() { done <- ServeWitness(ctx, req, func(l []WitnessLine) { linesc <- l }) }()
		select {
		case l := <-linesc:
			return l, func() error { cancel(); return <-done }
		case err := <-done:
			cancel()
			t.Fatalf("witness did not start: %v", err)
		}
		return nil, nil
	}
	lines, stop := serve(WitnessServeRequest{Listen: "127.0.0.1:0", Dir: wdir, PQ: true})
	if len(lines) != 2 || lines[0].Name != "witness-w" || lines[1].Name != "witness-w-pq" ||
		!strings.HasPrefix(lines[0].URL, "http://127.0.0.1:") || lines[1].URL != lines[0].URL+"/pq" {
		t.Fatalf("policy lines %+v", lines)
	}
	if want := "witness witness-w " + lines[0].VKey + " " + lines[0].URL; lines[0].String() != want {
		t.Errorf("policy line %q, want %q", lines[0], want)
	}
	resp, err := http.Post(lines[1].URL+"/add-checkpoint", "text/plain", strings.NewReader("old 0\n\nnot a checkpoint\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("a malformed checkpoint at /pq: %s, want a 4xx refusal", resp.Status)
	}
	if err := stop(); err != nil {
		t.Fatalf("witness after its context ended: %v", err)
	}

	ca, err := pki.Init(filepath.Join(dir, "ca"), "h1", testNow)
	if err != nil {
		t.Fatal(err)
	}
	files := func(role pki.Role, name string) pki.Files {
		req := pki.Request{Role: role, Name: name}
		if role == pki.RoleSite {
			req.Hosts = []string{"127.0.0.1"}
		}
		is, err := ca.Issue(req)
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(dir, "id-"+name)
		if err := is.Save(d, name, ca.Cert); err != nil {
			t.Fatal(err)
		}
		return pki.Files{CA: filepath.Join(d, pki.CACertFile), Cert: filepath.Join(d, name+".crt"), Key: filepath.Join(d, name+".key")}
	}
	op := files(pki.RoleOperator, "ops")
	err = ServeWitness(context.Background(), WitnessServeRequest{Listen: "127.0.0.1:0", Dir: wdir, TLS: op}, nil)
	wantCode(t, err, hint.CodeUsage, "--cert "+op.Cert+" is not a site certificate", "")
	err = ServeWitness(context.Background(), WitnessServeRequest{Listen: "127.0.0.1:0", Dir: wdir, TLS: pki.Files{Cert: filepath.Join(dir, "none.crt")}}, nil)
	if hint.CodeOf(err) != hint.CodeUsage || hint.Of(err) != "--ca, --cert and --key name the witness's site certificate from 'embassy pki issue --role site'" {
		t.Fatalf("missing TLS files: %v (hint %q, code %d)", err, hint.Of(err), hint.CodeOf(err))
	}
	lines, stop = serve(WitnessServeRequest{Listen: "127.0.0.1:0", Dir: wdir, Name: "lu/w1", Logs: []string{logKey}, TLS: files(pki.RoleSite, "lu")})
	if len(lines) != 1 || lines[0].Name != "lu/w1" || !strings.HasPrefix(lines[0].URL, "https://127.0.0.1:") {
		t.Fatalf("policy lines over TLS %+v", lines)
	}
	if want := "witness lu-w1 " + lines[0].VKey + " " + lines[0].URL; lines[0].String() != want {
		t.Errorf("policy line %q, want %q", lines[0], want)
	}
	if err := stop(); err != nil {
		t.Fatalf("TLS witness after its context ended: %v", err)
	}
}
