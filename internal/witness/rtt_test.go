package witness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
)

// The prober times TLS handshakes with the site named in the request,
// authenticated by the site certificate, and signs the samples so that the
// home verifies them with the witness's cosignature key; a server that is
// not that site is not measured.
func TestProberMeasuresAuthenticatedHandshakes(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), "h1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	serve := func(name string) string {
		is, _ := ca.Issue(pki.Request{Role: pki.RoleSite, Name: name, Hosts: []string{"127.0.0.1"}})
		pair, _ := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tl := tls.NewListener(ln, pki.ServerTLS(pair, pool, pki.PeerCheck{Home: "h1"}, nil))
		t.Cleanup(func() { tl.Close() })
		go func() {
			for {
				c, err := tl.Accept()
				if err != nil {
					return
				}
				go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
			}
		}()
		return ln.Addr().String()
	}
	lu, other := serve("lu"), serve("de")
	_, vkey, err := LoadOrCreateKey(filepath.Join(dir, "w"), "tallinn-w", Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := RTTSigner(filepath.Join(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Prober{Signer: rs, Roots: pool, Home: "h1"}
	nonce := locate.NewNonce()
	s, err := p.Measure(context.Background(), locate.RTTRequest{Site: "lu", Addr: lu, Nonce: nonce, Samples: 3})
	if err != nil {
		t.Fatal(err)
	}
	r, err := locate.VerifyRTT(s, vkey)
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "lu" || r.Nonce != nonce || len(r.Samples) != 3 || r.Witness != "tallinn-w" || len(r.SiteCert) != 64 {
		t.Fatalf("%+v", r)
	}
	if _, err := p.Measure(context.Background(), locate.RTTRequest{Site: "lu", Addr: other, Nonce: nonce, Samples: 1}); err == nil || !strings.Contains(err.Error(), `not "lu"`) {
		t.Fatalf("another site measured as lu: %v", err)
	}
	// Without a client certificate (plain HTTP here) /rtt is refused.
	srv := httptest.NewServer(WithRTT(http.NotFoundHandler(), p))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/rtt", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/rtt without a client certificate: %d", resp.StatusCode)
	}
}
