package supply

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/strict"
)

// ApprovalFormat identifies an update approval (docs/formats/update-approval.md).
const ApprovalFormat = "embassy.update-approval.v1"

// signingDomain is prefixed to the canonical JSON before signing.
const signingDomain = ApprovalFormat + "\n"

// MaxApprovalFile bounds an approval file.
const MaxApprovalFile = 64 << 10

var (
	artifactRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })
	digestRE      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{64}$`) })
	measureNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]{0,127}$`) })
	measureValRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{2,256}$`) })
	homeRE        = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^fp1(-[0-9a-f]{4}){8}$`) })
	idRE          = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^u[0-9a-f]{16}$`) })
)

// Approval is the sending state's approval of one update: an artifact (a
// daemon build, a firmware or image) by the SHA-256 digest of its file
// and/or by the attestation measurements it produces, with the digest of
// its SBOM, valid from Issued until NotAfter, for one home (its
// fingerprint), signed with the signing key of root epoch Epoch.
type Approval struct {
	Format       string            `json:"format"`
	Home         string            `json:"home"`
	Epoch        uint32            `json:"epoch"`
	Artifact     string            `json:"artifact"`
	Digest       string            `json:"digest,omitempty"`
	SBOM         string            `json:"sbom,omitempty"`
	Measurements map[string]string `json:"measurements,omitempty"`
	Issued       time.Time         `json:"issued"`
	NotAfter     time.Time         `json:"not_after"`
	Note         string            `json:"note,omitempty"`
}

// Signed is an approval file: the approval, its id, the signer's Ed25519
// public key (hex) and the signature over the signing input.
type Signed struct {
	Approval
	ID        string `json:"id"`
	Signer    string `json:"signer"`
	Signature []byte `json:"signature"`
}

// Validate checks every field; it keeps strings to printable ASCII
// without quotes or backslashes, so the canonical encoding is exact.
func (a *Approval) Validate() error {
	if a.Format != ApprovalFormat {
		return fmt.Errorf("update approval format %q: want %q", a.Format, ApprovalFormat)
	}
	if !homeRE().MatchString(a.Home) {
		return fmt.Errorf("update approval: home %q is not a home fingerprint (fp1-...)", a.Home)
	}
	if a.Epoch == 0 {
		return errors.New("update approval: epoch is missing")
	}
	if !artifactRE().MatchString(a.Artifact) {
		return fmt.Errorf("update approval: artifact %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", a.Artifact)
	}
	if a.Digest == "" && len(a.Measurements) == 0 {
		return fmt.Errorf("update approval of %s: name a digest, measurements or both", a.Artifact)
	}
	if a.Digest != "" && !digestRE().MatchString(a.Digest) {
		return fmt.Errorf("update approval of %s: digest %q: want 64 lowercase hex digits (SHA-256)", a.Artifact, a.Digest)
	}
	if a.SBOM != "" && !digestRE().MatchString(a.SBOM) {
		return fmt.Errorf("update approval of %s: SBOM digest %q: want 64 lowercase hex digits (SHA-256)", a.Artifact, a.SBOM)
	}
	if len(a.Measurements) > 64 {
		return fmt.Errorf("update approval of %s: %d measurements: at most 64", a.Artifact, len(a.Measurements))
	}
	for k, v := range a.Measurements {
		if !measureNameRE().MatchString(k) {
			return fmt.Errorf("update approval of %s: measurement name %q: use lowercase letters, digits, '.', '_', '/' or '-' (e.g. pcr.sha256.0, snp.measurement)", a.Artifact, k)
		}
		if !measureValRE().MatchString(v) {
			return fmt.Errorf("update approval of %s: measurement %s: value must be lowercase hex", a.Artifact, k)
		}
	}
	if a.Issued.IsZero() || a.NotAfter.IsZero() || !a.NotAfter.After(a.Issued) {
		return fmt.Errorf("update approval of %s: validity %s to %s: the end must follow the start", a.Artifact, stamp(a.Issued), stamp(a.NotAfter))
	}
	if len(a.Note) > 512 || strings.ContainsAny(a.Note, "\"\\") || !printable(a.Note) {
		return fmt.Errorf("update approval of %s: note must be at most 512 printable ASCII characters without quotes or backslashes", a.Artifact)
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Canonical is the JSON the signature covers: the approval's members
// sorted by name, no white space, times in RFC 3339 UTC whole seconds,
// empty optional members left out (RFC 8785 for the values Validate allows).
func (a *Approval) Canonical() ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if a.Issued.Nanosecond() != 0 || a.NotAfter.Nanosecond() != 0 {
		return nil, errors.New("update approval: times must be whole seconds")
	}
	m := map[string]any{"format": a.Format, "home": a.Home, "epoch": a.Epoch, "artifact": a.Artifact,
		"issued": stamp(a.Issued), "not_after": stamp(a.NotAfter)}
	if a.Digest != "" {
		m["digest"] = a.Digest
	}
	if a.SBOM != "" {
		m["sbom"] = a.SBOM
	}
	if len(a.Measurements) > 0 {
		m["measurements"] = a.Measurements
	}
	if a.Note != "" {
		m["note"] = a.Note
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SigningInput is what the Ed25519 signature covers: the format line and
// the canonical JSON.
func (a *Approval) SigningInput() ([]byte, error) {
	c, err := a.Canonical()
	if err != nil {
		return nil, err
	}
	return append([]byte(signingDomain), c...), nil
}

// idOf is "u" and the first 16 hex digits of SHA-256 of the signing input.
func idOf(in []byte) string {
	s := sha256.Sum256(in)
	return "u" + hex.EncodeToString(s[:8])
}

// Sign signs a with key (the home's root signing key of a.Epoch). Times
// are truncated to whole seconds in UTC.
func Sign(a Approval, key ed25519.PrivateKey) (*Signed, error) {
	if a.Format == "" {
		a.Format = ApprovalFormat
	}
	a.Issued, a.NotAfter = a.Issued.UTC().Truncate(time.Second), a.NotAfter.UTC().Truncate(time.Second)
	in, err := a.SigningInput()
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	return &Signed{Approval: a, ID: idOf(in), Signer: hex.EncodeToString(pub), Signature: ed25519.Sign(key, in)}, nil
}

// Marshal encodes a signed approval as its file (indented JSON).
func (s *Signed) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	return append(b, '\n'), err
}

// EpochKey returns the signing key of a root epoch of the home (false if
// the home has no such epoch).
type EpochKey func(epoch uint32) (ed25519.PublicKey, bool)

// ParseApproval decodes an approval file strictly and verifies it: for
// home (its fingerprint), signed by the signing key of the epoch it names,
// with the id its signing input gives.
func ParseApproval(b []byte, home string, keys EpochKey) (*Signed, error) {
	if len(b) > MaxApprovalFile {
		return nil, fmt.Errorf("update approval is %d bytes: at most %d", len(b), MaxApprovalFile)
	}
	var s Signed
	if err := strict.JSON(b, &s); err != nil {
		return nil, fmt.Errorf("update approval: %w", err)
	}
	in, err := s.SigningInput()
	if err != nil {
		return nil, err
	}
	if s.Home != home {
		return nil, fmt.Errorf("update approval %s is for home %s, not this home (%s)", s.ID, s.Home, home)
	}
	want, ok := keys(s.Epoch)
	if !ok {
		return nil, fmt.Errorf("update approval %s names root epoch %d, which this home does not have", s.ID, s.Epoch)
	}
	if s.Signer != hex.EncodeToString(want) {
		return nil, fmt.Errorf("update approval %s: signer is not the signing key of epoch %d", s.ID, s.Epoch)
	}
	if !ed25519.Verify(want, in, s.Signature) {
		return nil, fmt.Errorf("update approval %s: signature does not verify", s.ID)
	}
	if !idRE().MatchString(s.ID) || s.ID != idOf(in) {
		return nil, fmt.Errorf("update approval: id %q does not match its contents (want %s)", s.ID, idOf(in))
	}
	return &s, nil
}

// Covers reports whether every measurement a names is in m with the same
// value; if not, it names the first that differs (in name order).
func (a *Approval) Covers(m map[string]string) (bool, string) {
	if len(a.Measurements) == 0 {
		return false, a.Artifact + " names no measurements"
	}
	names := make([]string, 0, len(a.Measurements))
	for k := range a.Measurements {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		got, ok := m[k]
		if !ok {
			return false, fmt.Sprintf("%s is missing from the evidence (%s approves %s)", k, a.Artifact, short(a.Measurements[k]))
		}
		if got != a.Measurements[k] {
			return false, fmt.Sprintf("%s is %s, %s approves %s", k, short(got), a.Artifact, short(a.Measurements[k]))
		}
	}
	return true, ""
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
