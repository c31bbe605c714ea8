package exit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"testing"
	"time"
)

func testCA(t testing.TB) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), bytes.NewReader(bytes.Repeat([]byte{7}, 256)))
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(bytes.NewReader(bytes.Repeat([]byte{8}, 256)), tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzVerifyCertificate: a deletion certificate comes from the host; any
// bytes must verify or be refused without a panic, and under the home's
// key only the body the home signed verifies.
func FuzzVerifyCertificateBytes(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	body := CertBody{Site: "lu", Home: "home-1", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Manifest: "ab12", ByKind: map[string]int64{}}
	c, err := SignHome(body, priv)
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := json.Marshal(c)
	f.Add(seed)
	site := *c
	site.Body = bytes.Replace(c.Body, []byte(`"signer":"home"`), []byte(`"signer":"site"`), 1)
	site.Certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	b2, _ := json.Marshal(site)
	f.Add(b2)
	f.Add([]byte(`{"body":{"format":"` + CertificateFormat + `","signer":"x"}}`))
	ca := testCA(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Certificate
		if json.Unmarshal(in, &c) != nil {
			return
		}
		got, err := VerifyCertificate(&c, Trust{CA: ca, HomeKey: priv.Public().(ed25519.PublicKey), Home: "home-1"})
		if err != nil {
			return
		}
		if got.Signer == SignerHome {
			var want Certificate
			json.Unmarshal(seed, &want)
			if !bytes.Equal(c.Body, want.Body) {
				t.Fatalf("a body the home never signed verifies: %s", c.Body)
			}
		}
	})
}
