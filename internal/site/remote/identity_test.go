package remote_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// The client checks who answers, beyond the CA: the daemon registered as
// "lu" must present the site certificate named lu of the client's home. A
// different site of the same home, or a holder of an operator certificate
// posing as the daemon, is refused before any object is sent.
func TestDaemonIdentityPinned(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), nil) // its certificate names site "site"
	pair := env.Issue(t, pki.Request{Role: pki.RoleHome, Name: "home"})
	if _, err := remote.NewWithTLS(t.Context(), remote.Config{Host: env.Addr, ExpectSite: "site"}, env.TLS(&pair)); err != nil {
		t.Fatalf("the registered site: %v", err)
	}
	_, err := remote.NewWithTLS(t.Context(), remote.Config{Host: env.Addr, ExpectSite: "lu"}, env.TLS(&pair))
	if err == nil || !strings.Contains(err.Error(), `names site "site", the home registered "lu"`) {
		t.Fatalf("another site answered for lu: got %v", err)
	}

	// An operator of the same CA runs a fake daemon with its own certificate.
	opPair := env.Issue(t, pki.Request{Role: pki.RoleOperator, Name: "ops"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"name":"lu"}`)) }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{opPair}, CurvePreferences: pki.PQCurves}}
	go fake.ServeTLS(ln, "", "")
	t.Cleanup(func() { fake.Close() })
	tc := env.TLS(&pair)
	// The operator certificate has no IP SAN nor server usage: skip the
	// chain checks to show that the role check alone refuses it.
	tc.InsecureSkipVerify = true
	_, err = remote.NewWithTLS(context.Background(), remote.Config{Host: ln.Addr().String()}, tc)
	if err == nil || !strings.Contains(err.Error(), "operator certificate") {
		t.Fatalf("an operator certificate posing as the daemon: got %v", err)
	}
}

// ?site=NAME in a daemon URL names the certificate to expect.
func TestParseConfigSite(t *testing.T) {
	cfg, err := remote.ParseConfig("embassy://h:1?pki=/p&id=home&site=lu-1")
	if err != nil || cfg.ExpectSite != "lu-1" {
		t.Fatalf("%+v %v", cfg, err)
	}
	if _, err := remote.ParseConfig("embassy://h:1?pki=/p&site=../x"); err == nil {
		t.Fatal("accepted a bad site name")
	}
}
