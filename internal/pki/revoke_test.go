package pki

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The CRL is signed by the CA and only moves forward: a forged one, an
// older one, or a different one with the same number is refused, and a
// damaged file keeps the last good list in force.
func TestRevocationList(t *testing.T) {
	dir := t.TempDir()
	ca, err := Init(filepath.Join(dir, "ca"), "h1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Init(filepath.Join(dir, "other"), "h1", time.Now())
	a, _ := ca.Issue(Request{Role: RoleOperator, Name: "a"})
	b, _ := ca.Issue(Request{Role: RoleOperator, Name: "b"})
	foreign, _ := other.Issue(Request{Role: RoleOperator, Name: "a"})
	if _, _, err := ca.Revoke(filepath.Join(dir, "ca"), foreign.Cert); err == nil {
		t.Fatal("revoked a certificate of another CA")
	}
	_, crl1, err := ca.Revoke(filepath.Join(dir, "ca"), a.Cert)
	if err != nil {
		t.Fatal(err)
	}
	_, crl2, err := ca.Revoke(filepath.Join(dir, "ca"), b.Cert)
	if err != nil {
		t.Fatal(err)
	}
	_, forged, _ := other.Revoke(filepath.Join(dir, "other"), foreign.Cert)

	held := filepath.Join(dir, "daemon-crl.pem")
	r, err := OpenRevocations(held, ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(a.Cert); err != nil {
		t.Fatalf("nothing revoked yet: %v", err)
	}
	if _, err := r.Update(forged); err == nil {
		t.Fatal("a CRL signed by another CA was installed")
	}
	if _, err := r.Update(crl2); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(crl1); err == nil {
		t.Fatal("an older CRL replaced a newer one")
	}
	for _, c := range []struct {
		name string
		err  error
	}{{"a", r.Check(a.Cert)}, {"b", r.Check(b.Cert)}} {
		if !errors.Is(c.err, ErrRevoked) {
			t.Fatalf("%s: got %v, want revoked", c.name, c.err)
		}
	}
	if err := os.WriteFile(held, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Check(a.Cert); !errors.Is(err, ErrRevoked) || r.Err() == nil {
		t.Fatalf("damaged CRL file: check %v, reload error %v; want the last good list in force", err, r.Err())
	}
	again, err := OpenRevocations(filepath.Join(dir, "ca", CRLFile), ca.Cert)
	if err != nil || again.Number().Int64() != 2 {
		t.Fatalf("CA's own CRL: %v number %v", err, again.Number())
	}
}

func FuzzParseCRL(f *testing.F) {
	dir := f.TempDir()
	ca, err := Init(filepath.Join(dir, "ca"), "h1", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	a, _ := ca.Issue(Request{Role: RoleOperator, Name: "a"})
	_, crl, err := ca.Revoke(filepath.Join(dir, "ca"), a.Cert)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(crl)
	f.Add([]byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseCRL(b, ca.Cert); err == nil && c.Number == nil {
			t.Fatal("accepted a CRL without a number")
		}
	})
}
