package vault

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
)

// The home reaches an independent https witness (another CA) over plain
// TLS, a host's witness (the home CA) over mutual TLS, and refuses a
// home-CA certificate that is not a site's, without falling back.
func TestWitnessTransport(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), "h1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	issue := func(role pki.Role, name string) tls.Certificate {
		is, err := ca.Issue(pki.Request{Role: role, Name: name, Hosts: map[bool][]string{true: {"127.0.0.1"}}[role == pki.RoleSite]})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		return p
	}
	home := issue(pki.RoleHome, "home")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	independent := httptest.NewTLSServer(echo)
	defer independent.Close()
	hostSrv := httptest.NewUnstartedServer(echo)
	hostSrv.TLS = pki.ServerTLS(issue(pki.RoleSite, "lu"), pool, pki.PeerCheck{Home: "h1", Roles: []pki.Role{pki.RoleHome}}, nil)
	hostSrv.StartTLS()
	defer hostSrv.Close()
	wrong := httptest.NewUnstartedServer(echo)
	wrong.TLS = &tls.Config{Certificates: []tls.Certificate{issue(pki.RoleOperator, "ops")}}
	wrong.StartTLS()
	defer wrong.Close()

	tr := &http.Transport{TLSClientConfig: pki.ClientTLS(home, pool, "h1", "")}
	rt := witnessRT{home: tr, public: independent.Client().Transport}
	post := func(url string) (string, error) {
		req, _ := http.NewRequest("POST", url+"/add-checkpoint", bytes.NewReader([]byte("old 0\n\n")))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	if b, err := post(independent.URL); err != nil || b != "old 0\n\n" {
		t.Fatalf("independent witness: %q %v", b, err)
	}
	if b, err := post(hostSrv.URL); err != nil || b != "old 0\n\n" {
		t.Fatalf("host witness over mutual TLS: %q %v", b, err)
	}
	if _, err := post(wrong.URL); err == nil {
		t.Fatal("a home-CA certificate of role operator was accepted as a witness")
	}
}
