package exit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
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
	// SiteCert pins the site certificate (hex SHA-256 of its DER, from the
	// signed exit manifest). A site-signed certificate needs a pin or Site:
	// without either, any site of the home could sign for this one.
	SiteCert string
	// At is the verifier's validation time for the chain (the manifest's
	// signed creation time); the signer's own claimed time is only checked
	// to lie within MaxCertificateDelay after it. Zero: now.
	At time.Time
}

// MaxCertificateDelay is how long after the exit manifest a deletion
// certificate may be dated.
const MaxCertificateDelay = 7 * 24 * time.Hour

// CertSHA256 is the pin of a certificate: hex SHA-256 of its DER.
func CertSHA256(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
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
		if t.SiteCert == "" && t.Site == "" {
			return nil, errors.New("no pinned site certificate to check a site-signed certificate against (the archive's manifest names none)")
		}
		if t.SiteCert != "" && !strings.EqualFold(CertSHA256(cert.Raw), t.SiteCert) {
			return nil, fmt.Errorf("deletion certificate signed by another site certificate (sha256 %.16s...) than the one the home pinned in the manifest (%.16s...)", CertSHA256(cert.Raw), t.SiteCert)
		}
		roots := x509.NewCertPool()
		roots.AddCert(t.CA)
		// The verifier, not the signer, chooses the validation time: the
		// manifest's signed creation time (or now); the certificate's own
		// claimed time must follow it closely.
		at := t.At
		if at.IsZero() {
			at = time.Now() //nolint:forbidigo // no manifest time given: the verifier's own clock
		} else if b.Time.Before(at.Add(-5*time.Minute)) || b.Time.After(at.Add(MaxCertificateDelay)) {
			return nil, fmt.Errorf("deletion certificate dated %s, outside %s..+%v of the exit manifest", b.Time.Format(time.RFC3339), at.Format(time.RFC3339), MaxCertificateDelay)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return nil, fmt.Errorf("site certificate does not chain to the home CA at %s: %w", at.Format(time.RFC3339), err)
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
		if t.SiteCert == "" && id.Name != t.Site {
			return nil, fmt.Errorf("deletion certificate signed by site %q, want %q", id.Name, t.Site)
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
	case t.Site != "" && b.Site != t.Site && t.SiteCert == "":
		return nil, fmt.Errorf("certificate for site %q, want %q", b.Site, t.Site)
	case t.Digest != "" && b.Manifest != t.Digest:
		return nil, fmt.Errorf("certificate names manifest %.16s..., want %.16s...", b.Manifest, t.Digest)
	case b.Remaining != 0:
		return nil, fmt.Errorf("the site still lists %d objects", b.Remaining)
	}
	return &b, nil
}

// Trust is what a deletion certificate for the archive of m must prove:
// the manifest, signed by the home, pins the site (and its daemon's
// certificate) and gives the validation time. ca is the home CA for
// site-signed certificates, homeKey the key for home attestations, digest
// the manifest's Digest.
func (m *Manifest) Trust(ca *x509.Certificate, homeKey ed25519.PublicKey, digest string) Trust {
	return Trust{CA: ca, HomeKey: homeKey, Home: m.Home, Digest: digest, Site: m.Site, SiteCert: m.SiteCert, At: m.Created}
}
