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

// Token authorises an official to look records up from the embassy, or
// (role deactivate) to end the crisis service.
type Token struct {
	ID       string    `json:"id"`
	Home     string    `json:"home"`
	Epoch    uint32    `json:"epoch"` // key epoch whose root signing key signed it
	Official string    `json:"official"`
	Role     string    `json:"role,omitempty"` // lookup (default) or deactivate
	Issued   time.Time `json:"issued"`
	Expires  time.Time `json:"expires"`
}

// Token roles: a lookup token cannot deactivate the service, and a
// deactivation token cannot look records up.
const (
	RoleLookup     = "lookup"
	RoleDeactivate = "deactivate"
)

// MaxTTL is the longest validity a token may have; Issue refuses more and
// Verify refuses a token whose validity is longer, whoever signed it.
const MaxTTL = 30 * 24 * time.Hour

// maxClockSkew is how far in the future a token's issue time may lie.
const maxClockSkew = 5 * time.Minute

// RoleOf is the token's role (lookup if unset).
func (t *Token) RoleOf() string {
	if t.Role == "" {
		return RoleLookup
	}
	return t.Role
}

// Issue signs a token for official valid for ttl with root's signing key.
func Issue(root *keys.Root, home, official string, ttl time.Duration, now time.Time) (string, *Token, error) {
	return IssueRole(root, home, official, RoleLookup, ttl, now)
}

// IssueRole is Issue for a role (lookup or deactivate).
func IssueRole(root *keys.Root, home, official, role string, ttl time.Duration, now time.Time) (string, *Token, error) {
	if official == "" || ttl <= 0 {
		return "", nil, errors.New("token needs an official and a positive ttl")
	}
	if ttl > MaxTTL {
		return "", nil, fmt.Errorf("token validity %v is longer than the maximum %v: issue a shorter one and renew it", ttl, MaxTTL)
	}
	if role != RoleLookup && role != RoleDeactivate {
		return "", nil, fmt.Errorf("token role %q: use %s or %s", role, RoleLookup, RoleDeactivate)
	}
	id := make([]byte, 12)
	rand.Read(id)
	t := &Token{ID: hex.EncodeToString(id), Home: home, Epoch: root.Epoch, Official: official,
		Issued: now.UTC().Truncate(time.Second), Expires: now.UTC().Add(ttl).Truncate(time.Second)}
	if role == RoleDeactivate {
		t.Role = role
	}
	body, err := json.Marshal(t)
	if err != nil {
		return "", nil, err
	}
	sig := keys.Sign(root.Signer(), tokenContext, body)
	enc := base64.RawURLEncoding
	return "emb1." + enc.EncodeToString(body) + "." + enc.EncodeToString(sig), t, nil
}

// MaxTokenBytes bounds an encoded token.
const MaxTokenBytes = 4096

// Verify checks a token against the signing keys of the home's epochs
// (as recorded, signed, in the vault; CurrentEpochKey accepts only the
// newest, so that tokens die with a rotation) and the time now.
func Verify(s, home string, signKey func(epoch uint32) (ed25519.PublicKey, bool), now time.Time) (*Token, error) {
	if len(s) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrToken, MaxTokenBytes)
	}
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
	if !ok {
		return nil, fmt.Errorf("%w: signed under key epoch %d, not the vault's current epoch (tokens end with a key rotation: issue new ones)", ErrToken, t.Epoch)
	}
	if !keys.Verify(pub, tokenContext, body, sig) {
		return nil, fmt.Errorf("%w: signature does not verify", ErrToken)
	}
	if t.Home != home {
		return nil, fmt.Errorf("%w: issued by home %s", ErrToken, t.Home)
	}
	if now.After(t.Expires) {
		return nil, fmt.Errorf("%w: expired %s", ErrToken, t.Expires.Format(time.RFC3339))
	}
	switch {
	case t.Expires.Sub(t.Issued) > MaxTTL:
		return nil, fmt.Errorf("%w: valid for %v, longer than the maximum %v", ErrToken, t.Expires.Sub(t.Issued).Round(time.Hour), MaxTTL)
	case t.Issued.After(now.Add(maxClockSkew)):
		return nil, fmt.Errorf("%w: issued in the future (%s)", ErrToken, t.Issued.Format(time.RFC3339))
	case t.Role != "" && t.Role != RoleDeactivate:
		return nil, fmt.Errorf("%w: unknown role %q", ErrToken, t.Role)
	case t.ID == "" || t.Official == "":
		return nil, fmt.Errorf("%w: no id or official", ErrToken)
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

// CurrentEpochKey accepts only the signing key of the vault's newest
// verified epoch: a token signed before a key rotation no longer verifies.
func CurrentEpochKey(r *repo.Repo) func(uint32) (ed25519.PublicKey, bool) {
	var newest uint32
	for e := range r.Epochs() {
		newest = max(newest, e)
	}
	keys := EpochKeys(r)
	return func(epoch uint32) (ed25519.PublicKey, bool) {
		if epoch != newest {
			return nil, false
		}
		return keys(epoch)
	}
}

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
