package exit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/pki"
)

// Who signed a deletion certificate.
const (
	SignerSite = "site" // the host's daemon, with its site certificate's key
	SignerHome = "home" // the home itself: an attestation, not the host's word
)

// CertBody is what a deletion certificate states.
type CertBody struct {
	Format    string           `json:"format"`
	Signer    string           `json:"signer"` // site or home
	Site      string           `json:"site"`
	Home      string           `json:"home"`
	Time      time.Time        `json:"time"`
	Remaining int64            `json:"remaining"`         // objects still listed at the site
	ByKind    map[string]int64 `json:"by_kind,omitempty"` // remaining objects per kind
	Manifest  string           `json:"manifest"`          // Digest of the exit manifest
	Note      string           `json:"note,omitempty"`
}

// Certificate is a signed CertBody. A site's certificate carries the
// daemon's X.509 site certificate (PEM); a home's attestation carries the
// home's Ed25519 key.
type Certificate struct {
	Body        json.RawMessage `json:"body"`
	Sig         []byte          `json:"sig"`
	Certificate string          `json:"certificate,omitempty"`
	SignKey     []byte          `json:"sign_key,omitempty"`
}

func siteDigest(body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(CertificateContext))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// SignSite signs b with a site's TLS key (ECDSA P-256 from its site
// certificate, DER in certDER).
func SignSite(b CertBody, key crypto.Signer, certDER []byte) (*Certificate, error) {
	b.Format, b.Signer = CertificateFormat, SignerSite
	body, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(rand.Reader, siteDigest(body), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign exit certificate: %w", err)
	}
	return &Certificate{Body: body, Sig: sig, Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))}, nil
}

// SignHome signs b as the home's own attestation.
func SignHome(b CertBody, priv ed25519.PrivateKey) (*Certificate, error) {
	b.Format, b.Signer = CertificateFormat, SignerHome
	body, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return &Certificate{Body: body, Sig: keys.Sign(priv, CertificateContext, body), SignKey: priv.Public().(ed25519.PublicKey)}, nil
}

// Trust says what a certificate must chain to.
type Trust struct {
	CA      *x509.Certificate // the home CA, for site-signed certificates
	HomeKey ed25519.PublicKey // the home's signing key, for attestations ("" accepts the one it names)
	Home    string            // expected home id ("" accepts any)
	Site    string            // expected site name ("" accepts any)
	Digest  string            // expected manifest digest ("" accepts any)
}

// VerifyCertificate checks c's signature and what it states: the home,
// the site, the manifest and that nothing remains. For site certificates
// the site certificate must chain to t.CA, carry the site role for t.Home,
// and its name must be t.Site.
func VerifyCertificate(c *Certificate, t Trust) (*CertBody, error) {
	var b CertBody
	if err := json.Unmarshal(c.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: certificate body: %v", ErrMalformed, err)
	}
	if b.Format != CertificateFormat {
		return nil, fmt.Errorf("%w: certificate format %q", ErrMalformed, b.Format)
	}
	switch b.Signer {
	case SignerSite:
		if t.CA == nil {
			return nil, errors.New("a site-signed certificate needs the home CA to check it")
		}
		blk, _ := pem.Decode([]byte(c.Certificate))
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: no site certificate", ErrMalformed)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: site certificate: %v", ErrMalformed, err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(t.CA)
		// The certificate may since have expired: check the chain at the
		// time the certificate claims, bounded by the certificate's validity.
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: b.Time, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return nil, fmt.Errorf("site certificate does not chain to the home CA: %w", err)
		}
		id, err := pki.Identify(cert)
		if err != nil {
			return nil, err
		}
		if id.Role != pki.RoleSite {
			return nil, fmt.Errorf("certificate signed by a %s identity, not a site", id.Role)
		}
		if id.Name != b.Site {
			return nil, fmt.Errorf("site certificate of %q, certificate names site %q", id.Name, b.Site)
		}
		if id.Home != b.Home {
			return nil, fmt.Errorf("site certificate of home %q, certificate names %q", id.Home, b.Home)
		}
		pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok || !ecdsa.VerifyASN1(pub, siteDigest(c.Body), c.Sig) {
			return nil, fmt.Errorf("certificate: %w", ErrSignature)
		}
	case SignerHome:
		key := ed25519.PublicKey(c.SignKey)
		if t.HomeKey != nil && !key.Equal(t.HomeKey) {
			return nil, errors.New("attestation signed by another key than the home's")
		}
		if !keys.Verify(key, CertificateContext, c.Body, c.Sig) {
			return nil, fmt.Errorf("attestation: %w", ErrSignature)
		}
	default:
		return nil, fmt.Errorf("%w: unknown signer %q", ErrMalformed, b.Signer)
	}
	switch {
	case t.Home != "" && b.Home != t.Home:
		return nil, fmt.Errorf("certificate for home %q, want %q", b.Home, t.Home)
	case t.Site != "" && b.Site != t.Site:
		return nil, fmt.Errorf("certificate for site %q, want %q", b.Site, t.Site)
	case t.Digest != "" && b.Manifest != t.Digest:
		return nil, fmt.Errorf("certificate names manifest %.16s..., want %.16s...", b.Manifest, t.Digest)
	case b.Remaining != 0:
		return nil, fmt.Errorf("the site still lists %d objects", b.Remaining)
	}
	return &b, nil
}
