// Package evidence holds the signed documents that continuity operations
// leave behind (drill reports, crisis activations, deactivation reports) and
// the home's local append-only journal of those events.
//
// A Document is JSON: the body, the Ed25519 key that signed it, the
// signature in a per-kind context (keys.Sign), and optionally an
// endorsement of that key by a root signing key of the home, so a verifier
// who trusts the home's key epochs can trust a derived drill key too.
//
// The journal is a stand-in for the transparency log (internal/tlog): the
// same events are meant to be appended there once it exists.
package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/digital-embassy/embassy/internal/keys"
)

// Kinds of signed documents. The kind is also the signature context.
const (
	KindDrillReport  = "drill-report"
	KindActivation   = "crisis-activation"
	KindDeactivation = "crisis-deactivation"
)

const endorseContext = "evidence key endorsement"

// ErrSignature means a document does not verify.
var ErrSignature = errors.New("signature does not verify")

// Document is a signed evidence document.
type Document struct {
	Format      string          `json:"format"` // "embassy-evidence/1"
	Kind        string          `json:"kind"`
	Body        json.RawMessage `json:"body"`
	Key         string          `json:"key"` // base64 Ed25519 public key that signed Body
	Signature   string          `json:"signature"`
	Endorsement *Endorsement    `json:"endorsement,omitempty"`
}

// Endorsement is a home root signing key's signature over Document.Key.
type Endorsement struct {
	Home      string `json:"home"`
	Epoch     uint32 `json:"epoch"`
	RootKey   string `json:"root_key"` // base64 Ed25519 public key of that epoch
	Signature string `json:"signature"`
}

const format = "embassy-evidence/1"

// Sign marshals body and signs it with priv in kind's context. If endorser
// is not nil, it endorses priv's public key on behalf of home at epoch.
func Sign(kind string, body any, priv ed25519.PrivateKey, home string, epoch uint32, endorser ed25519.PrivateKey) (*Document, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	d := &Document{Format: format, Kind: kind, Body: b, Key: b64(pub), Signature: b64(keys.Sign(priv, kind, b))}
	if endorser != nil {
		d.Endorsement = &Endorsement{Home: home, Epoch: epoch, RootKey: b64(endorser.Public().(ed25519.PublicKey)),
			Signature: b64(keys.Sign(endorser, endorseContext, endorsed(home, epoch, pub)))}
	}
	return d, nil
}

func endorsed(home string, epoch uint32, pub ed25519.PublicKey) []byte {
	return fmt.Appendf(nil, "%s\x00%d\x00%s", home, epoch, b64(pub))
}

// Verified says what a successful Verify established.
type Verified struct {
	Kind     string
	Key      string // the signing key
	Endorsed bool   // the key is endorsed by RootKey of Home at Epoch
	Home     string
	Epoch    uint32
	RootKey  string
	// HomeBound is true when RootKey is the home's epoch-1 key, which the
	// home id is derived from: the endorsement then needs no outside record.
	HomeBound bool
}

// Verify checks d's signature and, if present, its endorsement. It does not
// decide whether the signer is trusted: compare Key or RootKey with what the
// verifier knows.
func Verify(d *Document, homeIDFor func(ed25519.PublicKey) string) (*Verified, error) {
	if d.Format != format {
		return nil, fmt.Errorf("evidence format %q, want %q", d.Format, format)
	}
	pub, err := pubKey(d.Key)
	if err != nil {
		return nil, err
	}
	// The body is signed compact; a pretty-printed file is compacted back.
	var body bytes.Buffer
	if err := json.Compact(&body, d.Body); err != nil {
		return nil, fmt.Errorf("%s body: %w", d.Kind, err)
	}
	sig, err := base64.StdEncoding.DecodeString(d.Signature)
	if err != nil || !keys.Verify(pub, d.Kind, body.Bytes(), sig) {
		return nil, fmt.Errorf("%s: %w", d.Kind, ErrSignature)
	}
	v := &Verified{Kind: d.Kind, Key: d.Key}
	if en := d.Endorsement; en != nil {
		rk, err := pubKey(en.RootKey)
		if err != nil {
			return nil, err
		}
		es, err := base64.StdEncoding.DecodeString(en.Signature)
		if err != nil || !keys.Verify(rk, endorseContext, endorsed(en.Home, en.Epoch, pub), es) {
			return nil, fmt.Errorf("%s endorsement: %w", d.Kind, ErrSignature)
		}
		v.Endorsed, v.Home, v.Epoch, v.RootKey = true, en.Home, en.Epoch, en.RootKey
		v.HomeBound = en.Epoch == 1 && homeIDFor != nil && homeIDFor(rk) == en.Home
	}
	return v, nil
}

func pubKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("bad public key %q", s)
	}
	return ed25519.PublicKey(b), nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Parse decodes a document.
func Parse(b []byte) (*Document, error) {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return &d, nil
}

// Decode unmarshals the body into v.
func (d *Document) Decode(v any) error { return json.Unmarshal(d.Body, v) }
