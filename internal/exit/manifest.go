// Package exit implements the open archive a home takes away when it leaves
// a host site, and the certificate that the site's data was deleted
// afterwards. The archive is a POSIX tar of every object the site held,
// named <kind>/<name>, followed by MANIFEST.json: a signed list of every
// object's size and BLAKE3-256. The formats are specified in
// docs/formats/exit.md.
package exit

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/keys"
)

// Formats and signature contexts.
const (
	ManifestFormat     = "embassy.exit.v1"
	ManifestContext    = "embassy.v1 exit-manifest"
	ManifestName       = "MANIFEST.json"
	CertificateFormat  = "embassy.exit-certificate.v1"
	CertificateContext = "embassy.v1 exit-certificate"
)

// Object is one archived object.
type Object struct {
	Path   string `json:"path"` // <kind>/<name>
	Size   int64  `json:"size"`
	BLAKE3 string `json:"blake3"` // hex BLAKE3-256 of the bytes
}

// Manifest describes an archive.
type Manifest struct {
	Format       string    `json:"format"`
	Home         string    `json:"home"`
	Site         string    `json:"site"`
	Jurisdiction string    `json:"jurisdiction,omitempty"`
	Created      time.Time `json:"created"`
	Epoch        uint32    `json:"epoch"` // key epoch of the signing key
	// SiteCert pins the daemon's site certificate (hex SHA-256 of its DER)
	// as the home saw it over TLS when it made the archive; only that
	// certificate may sign the deletion certificate. Empty for plain sites.
	SiteCert string   `json:"site_cert,omitempty"`
	SignKey  []byte   `json:"sign_key"` // Ed25519 public key (base64)
	Objects  []Object `json:"objects"`
	Bytes    int64    `json:"bytes"`
}

// signed is the stored envelope: the signature is over Body's exact bytes.
type signed struct {
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

// SignManifest encodes m and signs it with priv.
func SignManifest(m *Manifest, priv ed25519.PrivateKey) ([]byte, error) {
	m.Format = ManifestFormat
	m.SignKey = priv.Public().(ed25519.PublicKey)
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	// Compact: an indenting encoder would re-indent Body and break the
	// signature over its exact bytes.
	return json.Marshal(signed{Body: body, Sig: keys.Sign(priv, ManifestContext, body)})
}

// Errors of archive checks.
var (
	ErrSignature = errors.New("signature does not verify")
	ErrMalformed = errors.New("malformed archive")
)

// OpenManifest decodes a stored manifest and checks its signature against
// the key it names. The caller must still check that the key is the home's
// (the epoch record in the archive, or the home's own).
func OpenManifest(raw []byte) (*Manifest, error) {
	var s signed
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	var m Manifest
	if err := json.Unmarshal(s.Body, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest body: %v", ErrMalformed, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("%w: manifest format %q, want %q", ErrMalformed, m.Format, ManifestFormat)
	}
	if !keys.Verify(m.SignKey, ManifestContext, s.Body, s.Sig) {
		return nil, fmt.Errorf("manifest: %w", ErrSignature)
	}
	return &m, nil
}

// Digest is the hex BLAKE3-256 of a stored manifest: what the deletion
// certificate and the transparency log name.
func Digest(raw []byte) string {
	sum := blake3.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
