package server_test

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// junkHandshakes opens n certificate-less TLS connections to addr from
// the loopback address from (another source than the real clients on
// 127.0.0.1), each waiting for the daemon's verdict, 16 at a time.
func junkHandshakes(t *testing.T, addr, from string, n int) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, CurvePreferences: pki.PQCurves})
			if err != nil {
				return // refused at accept or during the handshake
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c) // the daemon's alert ends it
			c.Close()
		}()
	}
	wg.Wait()
}

// A host (or anyone on the network) floods the daemon with 1,600
// certificate-less handshakes after a host operator's session: the
// operator's login is still in the window (and the events file) when the
// home pulls events, the flood shows up as a few aggregated, counted
// events for its source, and a real client still connects.
func TestUnauthenticatedFloodKeepsOperatorSession(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events.jsonl")
	env := servertest.Start(t, mem.New(site.Properties{}), &server.Config{EventsFile: events})
	op := env.Client(t, pki.RoleOperator, "ops")
	if err := op.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	const n = 1600
	junkHandshakes(t, env.Addr, "127.0.0.2", n)

	home := env.Client(t, pki.RoleHome, "home")
	evs, err := home.Events(t.Context())
	if err != nil {
		t.Fatalf("home pulls events after the flood: %v", err)
	}
	var opLogin bool
	var noise, maxCount int
	for _, e := range evs {
		switch {
		case e.Kind == "login" && e.Role == "operator" && strings.Contains(e.Identity, "/ops"):
			opLogin = true
		case e.Identity == "":
			noise++
			if e.Remote != "127.0.0.2" {
				t.Errorf("aggregated event for source %q, want 127.0.0.2: %+v", e.Remote, e)
			}
			maxCount = max(maxCount, e.Count)
		}
	}
	if !opLogin {
		t.Fatalf("the operator's session was pushed out of the window by the flood: %d events", len(evs))
	}
	if noise == 0 || noise > 12 {
		t.Fatalf("%d aggregated events for %d junk handshakes, want 1..12", noise, n)
	}
	if maxCount < 1024 {
		t.Fatalf("largest aggregated count %d, want the flood counted (>= 1024 of %d)", maxCount, n)
	}
	b, _ := os.ReadFile(events)
	if !strings.Contains(string(b), "/role/operator/ops") || strings.Count(string(b), "\n") > 40 {
		t.Fatalf("events file: operator session missing or one line per junk handshake (%d lines)", strings.Count(string(b), "\n"))
	}
	m, err := home.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m, `embassy_unauthenticated_connections_total{source="127.0.0.2"} 1600`) {
		t.Fatalf("per-source counter missing or wrong:\n%s", grepLines(m, "unauthenticated"))
	}
	if !strings.Contains(m, `embassy_rejected_total{reason="unauthenticated_source_failures"}`) {
		t.Fatalf("the per-source failure limit never refused the flood:\n%s", grepLines(m, "rejected"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A classical-only client (X25519 without ML-KEM) is refused: the daemon
// speaks only the hybrid post-quantum group.
func TestClassicalOnlyClientRefused(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), nil)
	pair := env.Issue(t, pki.Request{Role: pki.RoleHome, Name: "home"})
	tc := env.TLS(&pair)
	tc.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	resp, err := httpClient(tc).Get("https://" + env.Addr + "/healthz")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("classical-only client got %s, want a refused handshake", resp.Status)
	}
	tc.CurvePreferences = pki.PQCurves
	resp, err = httpClient(tc).Get("https://" + env.Addr + "/healthz")
	if err != nil {
		t.Fatalf("hybrid client: %v", err)
	}
	resp.Body.Close()
	if g := resp.Header.Get("Embassy-Tls-Group"); g != "X25519MLKEM768" {
		t.Fatalf("negotiated %q", g)
	}
}

// The home revokes an operator's certificate and pushes the CRL: the next
// request on the operator's open connection and every new handshake are
// refused, and each refusal is an access event naming the identity and
// the revocation, which the home pulls into its log. An older CRL, or one
// the operator forged, cannot undo it.
func TestRevokedCertificateRefusedAndRecorded(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), &server.Config{CRLFile: filepath.Join(t.TempDir(), "crl.pem")})
	opIs, err := env.CA.Issue(pki.Request{Role: pki.RoleOperator, Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	opPair, _ := tls.X509KeyPair(opIs.CertPEM, opIs.KeyPEM)
	op := httpClient(env.TLS(&opPair))
	get := func() (int, error) {
		resp, err := op.Get("https://" + env.Addr + "/healthz")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("before revocation: %d %v", code, err)
	}
	home := env.Client(t, pki.RoleHome, "home")
	_, crl, err := env.CA.Revoke(filepath.Join(t.TempDir()), opIs.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := home.PutCRL(t.Context(), crl); err != nil {
		t.Fatal(err)
	}
	if code, err := get(); err == nil && code != 403 {
		t.Fatalf("revoked operator on its open connection: %d, want 403", code)
	}
	op.CloseIdleConnections()
	if code, err := get(); err == nil {
		t.Fatalf("revoked operator got a new connection: %d", code)
	}
	evs, err := home.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var refusals int
	for _, e := range evs {
		if e.Kind == "denied" && strings.Contains(e.Identity, "/ops") && strings.Contains(e.Detail, "revoked") {
			refusals++
		}
	}
	if refusals < 2 {
		t.Fatalf("%d recorded refusals of the revoked operator, want one per attempt (2): %+v", refusals, evs)
	}
	other, _ := pki.Init(filepath.Join(t.TempDir(), "other"), env.CA.Home, time.Now())
	_, forged, _ := other.Revoke(filepath.Join(t.TempDir()))
	if err := home.PutCRL(t.Context(), forged); err == nil {
		t.Fatal("the daemon installed a CRL not signed by the home CA")
	}
}
