// Package operate serves restored registries from the embassy under a
// declared crisis: read-only lookups for officials holding tokens the home
// issued before the crisis, every lookup audited, and a signed report of
// what was served when the service is deactivated.
package operate

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
)

const tokenContext = "operate token"

// ErrToken means a token is malformed, forged, expired or for another home.
var ErrToken = errors.New("invalid token")

// Token authorises an official to look records up from the embassy.
type Token struct {
	ID       string    `json:"id"`
	Home     string    `json:"home"`
	Epoch    uint32    `json:"epoch"` // key epoch whose root signing key signed it
	Official string    `json:"official"`
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
}

// Issue signs a token for official valid for ttl with root's signing key.
func Issue(root *keys.Root, home, official string, ttl time.Duration, now time.Time) (string, *Token, error) {
	if official == "" || ttl <= 0 {
		return "", nil, errors.New("token needs an official and a positive ttl")
	}
	id := make([]byte, 12)
	rand.Read(id)
	t := &Token{ID: hex.EncodeToString(id), Home: home, Epoch: root.Epoch, Official: official,
		Issued: now.UTC().Truncate(time.Second), Expires: now.UTC().Add(ttl).Truncate(time.Second)}
	body, err := json.Marshal(t)
	if err != nil {
		return "", nil, err
	}
	sig := keys.Sign(root.Signer(), tokenContext, body)
	enc := base64.RawURLEncoding
	return "emb1." + enc.EncodeToString(body) + "." + enc.EncodeToString(sig), t, nil
}

// Verify checks a token against the signing keys of the home's epochs
// (as recorded, signed, in the vault) and the time now.
func Verify(s, home string, signKey func(epoch uint32) (ed25519.PublicKey, bool), now time.Time) (*Token, error) {
	p := strings.Split(strings.TrimSpace(s), ".")
	if len(p) != 3 || p[0] != "emb1" {
		return nil, fmt.Errorf("%w: not an embassy token", ErrToken)
	}
	enc := base64.RawURLEncoding
	body, err1 := enc.DecodeString(p[1])
	sig, err2 := enc.DecodeString(p[2])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: bad encoding", ErrToken)
	}
	var t Token
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrToken, err)
	}
	pub, ok := signKey(t.Epoch)
	if !ok || !keys.Verify(pub, tokenContext, body, sig) {
		return nil, fmt.Errorf("%w: signature does not verify", ErrToken)
	}
	if t.Home != home {
		return nil, fmt.Errorf("%w: issued by home %s", ErrToken, t.Home)
	}
	if now.After(t.Expires) {
		return nil, fmt.Errorf("%w: expired %s", ErrToken, t.Expires.Format(time.RFC3339))
	}
	return &t, nil
}

// DeriveKey derives a purpose-bound secret from the root (HKDF-SHA256 with
// label), for example the audit HMAC key or a drill signing key seed.
func DeriveKey(root *keys.Root, label string) []byte {
	k, err := hkdf.Key(sha256.New, root.Secret[:], nil, label, 32)
	if err != nil {
		panic("operate: " + err.Error())
	}
	return k
}

// DeriveSigner derives an Ed25519 key from the root for label.
func DeriveSigner(root *keys.Root, label string) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(DeriveKey(root, label))
}

// AuditLabel is the HKDF label of the audit HMAC key.
const AuditLabel = "embassy.v1 operate audit"

// EpochKeys returns the signing keys of the vault's verified key epochs.
func EpochKeys(r *repo.Repo) func(uint32) (ed25519.PublicKey, bool) {
	return func(epoch uint32) (ed25519.PublicKey, bool) {
		ep, ok := r.Epochs()[epoch]
		if !ok {
			return nil, false
		}
		b, err := base64.StdEncoding.DecodeString(ep.SignKey)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, false
		}
		return ed25519.PublicKey(b), true
	}
}
