package pki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestIssueAndIdentify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := Init(dir, "h0123", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v, want mode 0600", fi.Mode(), err)
	}
	if _, err := Init(dir, "h0123", time.Now()); err == nil {
		t.Error("Init replaced an existing CA")
	}
	ca, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(Request{Role: RoleAuditor, Name: "audit-1"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := Identify(is.Cert)
	if err != nil || id != (Identity{Home: "h0123", Role: RoleAuditor, Name: "audit-1"}) {
		t.Fatalf("Identify: %v %v", id, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	opts := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := is.Cert.Verify(opts); err != nil {
		t.Errorf("verify: %v", err)
	}
	opts.CurrentTime = time.Now().Add(DefaultLifetime + time.Hour)
	if _, err := is.Cert.Verify(opts); err == nil {
		t.Error("certificate still valid after its lifetime")
	}
	for _, bad := range []Request{
		{Role: "root", Name: "x"},
		{Role: RoleHome, Name: "Bad Name"},
		{Role: RoleHome, Name: "x", Lifetime: MaxLifetime + time.Hour},
		{Role: RoleHome, Name: "x", Hosts: []string{"a"}},
	} {
		if _, err := ca.Issue(bad); err == nil {
			t.Errorf("Issue(%+v) succeeded", bad)
		}
	}
	if err := is.Save(filepath.Join(t.TempDir(), "out"), "audit-1", ca.Cert); err != nil {
		t.Fatal(err)
	}
}
