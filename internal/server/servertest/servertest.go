// Package servertest starts an embassy daemon in-process over real TLS on
// loopback, with a fresh home CA, for tests of the daemon and its clients.
package servertest

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// Env is a running daemon and its CA.
type Env struct {
	Addr   string
	CA     *pki.CA
	Dir    string // pki directory holding ca.crt and issued pairs
	Server *server.Server
	Stop   context.CancelFunc // graceful shutdown; Done is closed when Serve returns
	Done   chan error
}

// Start serves b until the test ends. cfg may be nil; its Backend,
// ClientCAs and Certificate are filled in.
func Start(t testing.TB, b site.Backend, cfg *server.Config) *Env {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), "h0123456789abcdef0123", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{CA: ca, Dir: filepath.Join(dir, "ids")}
	site := e.Issue(t, pki.Request{Role: pki.RoleSite, Name: "site", Hosts: []string{"127.0.0.1", "localhost"}})
	var c server.Config
	if cfg != nil {
		c = *cfg
	}
	c.Backend = b
	c.ClientCAs = Pool(ca)
	c.CA = ca.Cert
	c.Home = ca.Home
	c.Certificate = site
	if c.Drain == 0 {
		c.Drain = 5 * time.Second
	}
	srv, err := server.New(c)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.Addr, e.Server, e.Stop, e.Done = ln.Addr().String(), srv, cancel, make(chan error, 1)
	go func() { e.Done <- srv.Serve(ctx, ln) }() //nolint:errcheck // the result is sent on e.Done
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.Done: //nolint:errcheck // stopped; a test that cares reads the result itself
		case <-time.After(c.Drain + 10*time.Second):
			t.Errorf("daemon did not stop within %v of shutdown", c.Drain+10*time.Second)
		}
	})
	return e
}

// Pool is a pool holding only the CA.
func Pool(ca *pki.CA) *x509CertPool {
	p := newPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue issues a certificate, saves it under e.Dir and returns the pair.
func (e *Env) Issue(t testing.TB, req pki.Request) tls.Certificate {
	t.Helper()
	is, err := e.CA.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := is.Save(e.Dir, req.Name, e.CA.Cert); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// TLS is a client configuration presenting pair.
func (e *Env) TLS(pair *tls.Certificate) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: Pool(e.CA), CurvePreferences: pki.CurvePreferences}
	if pair != nil {
		tc.Certificates = []tls.Certificate{*pair}
	}
	return tc
}

// Client issues a certificate of role and name and connects a remote
// backend with it.
func (e *Env) Client(t testing.TB, role pki.Role, name string) *remote.Backend {
	t.Helper()
	pair := e.Issue(t, pki.Request{Role: role, Name: name})
	b, err := remote.NewWithTLS(context.Background(), remote.Config{Host: e.Addr, Name: "test"}, e.TLS(&pair))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
