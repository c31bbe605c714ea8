package broker

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/digital-embassy/embassy/internal/keys"
)

// EARProfile is the EAR profile of the broker's attestation results
// (draft-ietf-rats-ear).
const EARProfile = "tag:github.com,2023:veraison/ear"

// EAR trustworthiness tiers (draft-ietf-rats-ear, AR4SI).
const (
	earAffirming = "affirming"
	earContra    = "contraindicated"
)

// EAR is the broker's attestation result, a JWT signed with EdDSA.
type EAR struct {
	Profile    string                  `json:"eat_profile"`
	IssuedAt   int64                   `json:"iat"`
	Expires    int64                   `json:"exp"`
	Nonce      string                  `json:"eat_nonce,omitempty"`
	VerifierID EARVerifier             `json:"ear.verifier-id"`
	Submods    map[string]EARAppraisal `json:"submods"`
	Home       string                  `json:"embassy.home"`
	Workload   string                  `json:"embassy.workload"`
	Site       string                  `json:"embassy.site"`
}

// EARVerifier names the verifier.
type EARVerifier struct {
	Developer string `json:"developer"`
	Build     string `json:"build"`
}

// EARAppraisal is the appraisal of one attester (submodule).
type EARAppraisal struct {
	Status    string            `json:"ear.status"`
	Vector    map[string]int    `json:"ear.trustworthiness-vector,omitempty"`
	PolicyID  string            `json:"ear.appraisal-policy-id,omitempty"`
	Evidence  map[string]string `json:"ear.veraison.annotated-evidence,omitempty"`
	KeyAttest map[string]any    `json:"ear.veraison.key-attestation,omitempty"`
}

// DeriveEARKey derives the broker's EAR signing key from the vault's root:
// Ed25519 with seed HKDF-SHA256(root secret, "embassy.v1 broker ear").
// Anyone holding the root's public material can be given its public half;
// a new root epoch gives a new key.
func DeriveEARKey(r *keys.Root) ed25519.PrivateKey {
	seed, err := hkdf.Key(sha256.New, r.Secret[:], nil, "embassy.v1 broker ear", ed25519.SeedSize)
	if err != nil {
		panic("broker: hkdf: " + err.Error())
	}
	return ed25519.NewKeyFromSeed(seed)
}

func signEAR(key ed25519.PrivateKey, e EAR) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(b)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// VerifyEAR checks a token's signature by pub and its validity at now.
func VerifyEAR(token string, pub ed25519.PublicKey, now time.Time) (*EAR, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("ear: %w", err)
	}
	b, err := jws.Verify(pub)
	if err != nil {
		return nil, errors.New("ear: signature does not verify")
	}
	var e EAR
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("ear: %w", err)
	}
	if e.Profile != EARProfile {
		return nil, fmt.Errorf("ear: profile %q", e.Profile)
	}
	if now.Unix() >= e.Expires {
		return nil, errors.New("ear: expired")
	}
	return &e, nil
}
