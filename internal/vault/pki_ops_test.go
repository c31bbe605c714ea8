package vault

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
)

// InitPKI makes the CA and the home's certificate; IssueCert checks the
// request, issues under the CA and writes the files; ViewCert reads back
// the holder, hosts and validity state.
func TestPKIInitIssueView(t *testing.T) {
	h := &home.Home{Dir: t.TempDir()}
	if _, err := InitPKI(h, time.Now()); err == nil || hint.Of(err) != "run 'embassy init' first" {
		t.Fatalf("no home id: %v", err)
	}
	h.Config.Home = "home-test"
	now := time.Now()
	res, err := InitPKI(h, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dir != filepath.Join(h.Dir, "pki") || res.CA.Home != "home-test" {
		t.Fatalf("init = %+v", res)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "home.crt")); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []CertRequest{{Role: "king", Out: "x"}, {Role: "operator"}, {Role: "site", Name: "lu", Out: "x"}} {
		if _, err := IssueCert(h, bad); hint.CodeOf(err) != hint.CodeUsage {
			t.Errorf("%+v: %v, want a usage error", bad, err)
		}
	}
	out := t.TempDir()
	is, err := IssueCert(h, CertRequest{Role: "site", Name: "lu-1", Out: out, Hosts: []string{"lu.example", "127.0.0.1"}, Lifetime: pki.DefaultLifetime})
	if err != nil {
		t.Fatal(err)
	}
	if is.Role != pki.RoleSite || is.CertFile != filepath.Join(out, "lu-1.crt") || is.TPMKey != "" {
		t.Fatalf("issued = %+v", is)
	}
	v, err := LoadCertView(is.CertFile, now)
	if err != nil {
		t.Fatal(err)
	}
	if v.IDErr != nil || v.ID.Name != "lu-1" || v.ID.Role != pki.RoleSite || v.ID.Home != "home-test" || v.Hardware || v.State != "valid" {
		t.Fatalf("view = %+v", v)
	}
	if len(v.Hosts) != 2 || v.Hosts[0] != "lu.example" || v.Hosts[1] != "127.0.0.1" {
		t.Fatalf("hosts = %v", v.Hosts)
	}
	if s := ViewCert(is.CertFile, v.Cert, v.Cert.NotAfter.Add(time.Second)).State; s != "EXPIRED" {
		t.Fatalf("after NotAfter: %s", s)
	}
	if s := ViewCert(is.CertFile, v.Cert, v.Cert.NotBefore.Add(-time.Second)).State; s != "not yet valid" {
		t.Fatalf("before NotBefore: %s", s)
	}
	ca, err := LoadCertView(filepath.Join(out, pki.CACertFile), now)
	if err != nil || !ca.Cert.IsCA {
		t.Fatalf("ca view: %+v, %v", ca, err)
	}
}
