package vault

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
)

// The crisis service's transport: plain HTTP only on loopback, TLS with a
// certificate of the home PKI, mutual TLS with its CA and CRL; every
// refusal is a usage error naming the flag.
func TestOperateTLSConfig(t *testing.T) {
	var o OperateTLS
	if tc, rev, err := o.Config("127.0.0.1:8443"); err != nil || tc != nil || rev != nil {
		t.Fatalf("loopback without TLS: %v %v %v", tc, rev, err)
	}
	for _, addr := range []string{"0.0.0.0:8443", ":8443", "192.0.2.10:8443", "no-port"} {
		if _, _, err := o.Config(addr); err == nil || hint.CodeOf(err) != hint.CodeUsage {
			t.Fatalf("%s without TLS: %v", addr, err)
		}
	}
	if _, _, err := (OperateTLS{CRL: "crl.pem"}).Config("127.0.0.1:1"); err == nil || err.Error() != "--client-ca and --crl need --tls-cert and --tls-key" {
		t.Fatalf("--crl without TLS: %v", err)
	}
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), "h1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	is, _ := ca.Issue(pki.Request{Role: pki.RoleSite, Name: "operate", Hosts: []string{"192.0.2.10"}})
	os.WriteFile(filepath.Join(dir, "op.crt"), is.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "op.key"), is.KeyPEM, 0o600)
	o = OperateTLS{Cert: filepath.Join(dir, "op.crt"), Key: filepath.Join(dir, "op.key")}
	if tc, _, err := o.Config("192.0.2.10:8443"); err != nil || tc == nil || tc.ClientCAs != nil {
		t.Fatalf("TLS: %+v %v", tc, err)
	}
	o.CRL = "crl.pem"
	if _, _, err := o.Config("192.0.2.10:8443"); err == nil || !strings.HasPrefix(err.Error(), "--crl needs --client-ca") {
		t.Fatalf("--crl without --client-ca: %v", err)
	}
	o.CRL, o.ClientCA = "", filepath.Join(dir, "ca", pki.CACertFile)
	tc, rev, err := o.Config("192.0.2.10:8443")
	if err != nil || tc == nil || tc.ClientCAs == nil || tc.VerifyConnection == nil || rev != nil {
		t.Fatalf("TLS with client CA: %+v %v %v", tc, rev, err)
	}
}
