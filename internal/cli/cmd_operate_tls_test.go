package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/vault"
)

// operate refuses to serve officials' tokens in clear text beyond loopback,
// and serves TLS with a certificate of the home PKI.
func TestOperateTLSConfig(t *testing.T) {
	var o operateTLS
	if tc, err := o.config("127.0.0.1:8443"); err != nil || tc != nil {
		t.Fatalf("loopback without TLS: %v %v", tc, err)
	}
	for _, addr := range []string{"0.0.0.0:8443", ":8443", "192.0.2.10:8443"} {
		if _, err := o.config(addr); err == nil {
			t.Fatalf("%s without TLS was accepted", addr)
		}
	}
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), "h1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	is, _ := ca.Issue(pki.Request{Role: pki.RoleSite, Name: "operate", Hosts: []string{"192.0.2.10"}})
	os.WriteFile(filepath.Join(dir, "op.crt"), is.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "op.key"), is.KeyPEM, 0o600)
	o = operateTLS{OperateTLS: vault.OperateTLS{Cert: filepath.Join(dir, "op.crt"), Key: filepath.Join(dir, "op.key"), ClientCA: filepath.Join(dir, "ca", pki.CACertFile)}}
	tc, err := o.config("192.0.2.10:8443")
	if err != nil || tc == nil || tc.ClientCAs == nil || tc.VerifyConnection == nil {
		t.Fatalf("TLS with client CA: %+v %v", tc, err)
	}
}
