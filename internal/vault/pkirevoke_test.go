package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestRevokeCertificates (issue 10): the vault revokes what 'pki revoke'
// names: without the home's CA it says how to make one; a file that holds
// no certificate is a usage error; each revocation signs the next CRL,
// counts every certificate revoked so far and is logged with its serials.
func TestRevokeCertificates(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	pkiDir := filepath.Join(v.Home.Dir, "pki")
	_, err := v.RevokeCertificates(ctx, []string{"none.crt"})
	wantCode(t, err, hint.CodeError, "open "+filepath.Join(pkiDir, pki.CACertFile)+": no such file or directory", "revocation needs the home's CA ('embassy pki init')")
	ca, err := pki.Init(pkiDir, v.Home.Config.Home, testNow)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(role pki.Role, name string) (file, serial string) {
		is, err := ca.Issue(pki.Request{Role: role, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(dir, name)
		if err := is.Save(d, name, ca.Cert); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(d, name+".crt"), is.Cert.SerialNumber.Text(16)
	}
	ops, opsSerial := issue(pki.RoleOperator, "ops")
	laptop, laptopSerial := issue(pki.RoleHome, "laptop")
	notCert := filepath.Join(dir, "ops", "ops.key")
	if _, err := v.RevokeCertificates(ctx, []string{notCert}); hint.CodeOf(err) != hint.CodeUsage {
		t.Fatalf("revoking a key file: %v (code %v), want a usage error", err, hint.CodeOf(err))
	}
	if _, err := os.Stat(filepath.Join(pkiDir, pki.CRLFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused revocation wrote a CRL: %v", err)
	}

	rev, err := v.RevokeCertificates(ctx, []string{ops})
	if err != nil {
		t.Fatal(err)
	}
	id := "spiffe://" + v.Home.Config.Home + "/role/"
	if len(rev.Revoked) != 1 || rev.Revoked[0] != id+"operator/ops (serial "+opsSerial+")" || rev.Number != "1" || rev.InAll != 1 {
		t.Fatalf("first revocation: %+v", rev)
	}
	if b, err := os.ReadFile(filepath.Join(pkiDir, pki.CRLFile)); err != nil || string(b) != string(rev.CRL) {
		t.Fatalf("pki/crl.pem is not the CRL returned (%v)", err)
	}
	rev, err = v.RevokeCertificates(ctx, []string{laptop})
	if err != nil {
		t.Fatal(err)
	}
	if rev.Revoked[0] != id+"home/laptop (serial "+laptopSerial+")" || rev.Number != "2" || rev.InAll != 2 {
		t.Fatalf("second revocation: %+v", rev)
	}
	ents := logged(t, v, tlog.KindPKIRevoke, "")
	if len(ents) != 2 {
		t.Fatalf("%d pki.revoke entries, want 2", len(ents))
	}
	if d := ents[1].Details; ents[1].Object != "2" || d["serials"] != laptopSerial || d["crl_number"] != "2" || d["revoked"] != "2" {
		t.Fatalf("second pki.revoke entry: %+v", ents[1].Entry)
	}
}

// TestPushCRL: the CRL goes to the daemon sites only, each answering in
// configuration order; one that cannot be reached is named and makes the
// push an exit-3 error saying to run it again.
func TestPushCRL(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	inner := o.OpenSite
	var opened []string
	o.OpenSite = func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error) {
		opened = append(opened, sc.Name)
		if sc.Name == "ch-d" {
			return nil, errors.New("connection refused")
		}
		return inner(ctx, sc, create)
	}
	v := open(t, dir, o)
	ctx := context.Background()
	rev := &Revocation{Number: "3", CRL: []byte("crl")}
	opened = nil
	if pushes, err := v.PushCRL(ctx, rev); err != nil || len(pushes) != 0 || len(opened) != 0 {
		t.Fatalf("no daemon sites: %+v %v, opened %v", pushes, err, opened)
	}
	v.Home.Config.Sites = append(v.Home.Config.Sites,
		home.SiteConfig{Name: "lu-d", URL: "embassy://lu.example:7443"}, home.SiteConfig{Name: "ch-d", URL: "https://ch.example:7443"})
	pushes, err := v.PushCRL(ctx, rev)
	if len(pushes) != 2 || pushes[0].Site != "lu-d" || pushes[0].Err != nil || pushes[1].Site != "ch-d" || pushes[1].Err == nil {
		t.Fatalf("pushes %+v", pushes)
	}
	wantCode(t, err, hint.CodeDamaged, "1 daemon site still holds an older CRL", "run 'embassy pki revoke' again when they are reachable")
}
