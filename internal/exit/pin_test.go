package exit

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
)

type siteKey struct {
	der []byte
	key crypto.Signer
}

func issueSite(t *testing.T, ca *pki.CA, name string, life time.Duration) siteKey {
	t.Helper()
	is, err := ca.Issue(pki.Request{Role: pki.RoleSite, Name: name, Hosts: []string{"127.0.0.1"}, Lifetime: life})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(is.KeyPEM)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return siteKey{der: is.Cert.Raw, key: k.(crypto.Signer)}
}

// A host cannot hand the home a deletion certificate signed by another of
// the home's sites (one it also runs, or one that is empty), nor choose
// the time its certificate is checked at.
func TestSiteCertificatePinnedAndVerifierTime(t *testing.T) {
	created := time.Now().UTC().Truncate(time.Second)
	ca, err := pki.Init(filepath.Join(t.TempDir(), "ca"), "h1", created.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	lu := issueSite(t, ca, "lu", 0)
	ch := issueSite(t, ca, "ch", 0)
	trust := Trust{CA: ca.Cert, Home: "h1", Site: "lu", Digest: "d", SiteCert: CertSHA256(lu.der), At: created}
	good, err := SignSite(CertBody{Site: "lu", Home: "h1", Time: created.Add(time.Minute), Manifest: "d"}, lu.key, lu.der)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCertificate(good, trust); err != nil {
		t.Fatalf("the pinned site's certificate: %v", err)
	}
	other, _ := SignSite(CertBody{Site: "ch", Home: "h1", Time: created.Add(time.Minute), Manifest: "d"}, ch.key, ch.der)
	if _, err := VerifyCertificate(other, trust); err == nil || !strings.Contains(err.Error(), "another site certificate") {
		t.Fatalf("certificate of another site: got %v", err)
	}
	unpinned := trust
	unpinned.SiteCert = ""
	if _, err := VerifyCertificate(other, unpinned); err == nil {
		t.Fatal("without a pin, another site's certificate was accepted for lu")
	}
	unpinned.Site = ""
	if _, err := VerifyCertificate(good, unpinned); err == nil {
		t.Fatal("a site-signed certificate was accepted with nothing to pin it to")
	}
	late, _ := SignSite(CertBody{Site: "lu", Home: "h1", Time: created.Add(30 * 24 * time.Hour), Manifest: "d"}, lu.key, lu.der)
	if _, err := VerifyCertificate(late, trust); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("certificate dated a month after the manifest: got %v", err)
	}

	// A site certificate that had expired when the manifest was made signs
	// a certificate backdated into its validity: checked at the verifier's
	// time, it fails.
	past := ca.Now
	ca.Now = func() time.Time { return created.Add(-3 * time.Hour) }
	old := issueSite(t, ca, "lu", time.Hour)
	ca.Now = past
	backdated, _ := SignSite(CertBody{Site: "lu", Home: "h1", Time: created.Add(-150 * time.Minute), Manifest: "d"}, old.key, old.der)
	tr := trust
	tr.SiteCert = CertSHA256(old.der)
	tr.At = created.Add(-150 * time.Minute)
	if _, err := VerifyCertificate(backdated, tr); err != nil {
		t.Fatalf("control, checked inside its validity: %v", err)
	}
	tr.At = created
	if _, err := VerifyCertificate(backdated, tr); err == nil {
		t.Fatal("a certificate backdated by its signer verified")
	}
}

// FuzzVerifyCertificate: deletion certificates come from the host's daemon.
func FuzzVerifyCertificate(f *testing.F) {
	dir := f.TempDir()
	created := time.Now().UTC()
	ca, err := pki.Init(filepath.Join(dir, "ca"), "h1", created.Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	is, _ := ca.Issue(pki.Request{Role: pki.RoleSite, Name: "lu", Hosts: []string{"127.0.0.1"}})
	b, _ := pem.Decode(is.KeyPEM)
	k, _ := x509.ParsePKCS8PrivateKey(b.Bytes)
	c, _ := SignSite(CertBody{Site: "lu", Home: "h1", Time: created, Manifest: "d"}, k.(crypto.Signer), is.Cert.Raw)
	raw, _ := json.Marshal(c)
	f.Add(raw)
	f.Add([]byte(`{"body":{"format":"embassy.exit-certificate.v1","signer":"site"},"sig":"AA=="}`))
	pin := CertSHA256(is.Cert.Raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Certificate
		if json.Unmarshal(data, &c) != nil {
			return
		}
		body, err := VerifyCertificate(&c, Trust{CA: ca.Cert, Home: "h1", Site: "lu", SiteCert: pin, At: created})
		if err == nil && (body.Remaining != 0 || body.Home != "h1") {
			t.Fatalf("accepted %+v", body)
		}
	})
}
