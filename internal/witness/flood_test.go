package witness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/pki"
)

// Anyone who reaches the witness posts junk: 1.5 MB bodies, checkpoints of
// unknown logs, checkpoints with forged signatures. None of it is kept as
// evidence (only signed checkpoints are), alerts are aggregated per kind
// with a count, the source is turned away after its failure budget, and a
// real checkpoint of the log is still cosigned.
func TestJunkRequestsNoAlertAmplification(t *testing.T) {
	l := newFakeLog(t)
	w, dir, _ := newTestWitness(t, l, Ed25519)
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()

	big := append([]byte("old 0\n\n"), bytes.Repeat([]byte("x"), 1500<<10)...)
	if code, _, _ := post(t, srv, big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("1.5 MB body: %d, want 413", code)
	}
	forged := newFakeLog(t) // same origin, another key
	forged.signer = mustSigner(t, l.signer.Name())
	forged.add(3, "f")
	var codes []int
	for i := range 100 {
		body := forged.request(t, 0, 3)
		if i%2 == 1 {
			body = []byte("old 0\n\nunknown.example/" + strings.Repeat("z", 4000) + "\n3\nAAAA\n\n— k AAAA\n")
		}
		code, _, _ := post(t, srv, body)
		codes = append(codes, code)
	}
	if codes[0] != http.StatusForbidden || codes[99] != http.StatusTooManyRequests {
		t.Fatalf("codes: first %d (want 403), last %d (want 429)", codes[0], codes[99])
	}
	as, err := ReadAlerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) == 0 || len(as) > 2 {
		t.Fatalf("%d alerts for 100 junk requests, want 1 or 2 (one per kind)", len(as))
	}
	for _, a := range as {
		if a.Checkpoint != "" || a.BodySHA256 == "" || a.Count < 1 || len(a.Origin) > maxAlertField+3 {
			t.Fatalf("junk alert keeps attacker text or lacks its count: %+v", a)
		}
	}
	st, _ := os.Stat(filepath.Join(dir, AlertsFile))
	if st.Size() > 4<<10 {
		t.Fatalf("alerts file is %d bytes after junk", st.Size())
	}

	// The log itself, from another address (in-process: no RemoteAddr port).
	l.add(4, "a")
	r, err := ParseRequest(l.request(t, 0, 4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddCheckpoint(r); err != nil {
		t.Fatalf("real checkpoint after the flood: %v", err)
	}
}

// Served over mutual TLS (as embassyd does), the witness lets only the
// home's certificates submit; a client without one, or with a revoked one,
// never reaches the handler.
func TestWitnessMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), "h1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair := func(role pki.Role, name string) (tls.Certificate, *x509.Certificate) {
		is, err := ca.Issue(pki.Request{Role: role, Name: name, Hosts: map[bool][]string{true: {"127.0.0.1"}}[role == pki.RoleSite]})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		return p, is.Cert
	}
	sitePair, _ := pair(pki.RoleSite, "lu")
	homePair, homeCert := pair(pki.RoleHome, "home")
	opPair, _ := pair(pki.RoleOperator, "ops")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	rev, err := pki.OpenRevocations(filepath.Join(dir, "crl.pem"), ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLog(t)
	w, _, _ := newTestWitness(t, l, Ed25519)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tc := pki.ServerTLS(sitePair, pool, pki.PeerCheck{Home: "h1", Roles: []pki.Role{pki.RoleHome}, Revoked: rev}, nil)
	// ServeTLS binds 127.0.0.1:0 itself and reports the address: no port
	// is freed and then reused.
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- ServeTLS(ctx, "127.0.0.1:0", w.Handler(), tc, func(a net.Addr) { ready <- a }) }()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-served:
		t.Fatalf("ServeTLS: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the witness did not listen within 30s")
	}
	postAs := func(c *tls.Certificate) error {
		cfg := &tls.Config{RootCAs: pool, CurvePreferences: pki.PQCurves}
		if c != nil {
			cfg = pki.ClientTLS(*c, pool, "h1", "lu")
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		l.add(1, "m")
		resp, err := hc.Post("https://"+addr+"/add-checkpoint", "text/plain", bytes.NewReader(l.request(t, 0, l.tree.Size())))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 409 {
			return &Error{Code: resp.StatusCode}
		}
		return nil
	}
	if err := postAs(&homePair); err != nil {
		t.Fatalf("home certificate: %v", err)
	}
	if err := postAs(nil); err == nil {
		t.Fatal("a client without a certificate reached the witness")
	}
	if err := postAs(&opPair); err == nil {
		t.Fatal("an operator certificate reached the witness")
	}
	_, crl, err := ca.Revoke(filepath.Join(dir, "ca"), homeCert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Update(crl); err != nil {
		t.Fatal(err)
	}
	if err := postAs(&homePair); err == nil {
		t.Fatal("a revoked home certificate reached the witness")
	}
}

// mustSigner is a new note key with the given name (a forger's).
func mustSigner(t *testing.T, name string) note.Signer {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
