package repo

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
)

const (
	repoFormat  = "embassy.repo.v1"
	epochFormat = "embassy.epoch.v1"
	repoSigCtx  = "embassy.v1 repo"
	epochSigCtx = "embassy.v1 epoch"
)

// ErrSignature means a signed object does not verify: it was altered, or it
// belongs to another home.
var ErrSignature = errors.New("signature does not verify")

// RepoBody is the signed descriptor stored at config/repo: it names the home
// and pins the signing key of key epoch 1, the root of trust.
type RepoBody struct {
	Format      string    `json:"format"`
	Home        string    `json:"home"`
	Created     time.Time `json:"created"`
	SignKey     string    `json:"sign_key"` // epoch 1, base64 Ed25519
	ChunkMin    int       `json:"chunk_min"`
	ChunkAvg    int       `json:"chunk_avg"`
	ChunkMax    int       `json:"chunk_max"`
	Description string    `json:"description,omitempty"`
}

// Custodian is one holder of a root share.
type Custodian struct {
	Index     uint16 `json:"index"`
	Recipient string `json:"recipient"`
	Name      string `json:"name,omitempty"`
}

// EpochBody is the signed record of one root-key epoch, at config/epoch-NNNNNNNN.
type EpochBody struct {
	Format      string      `json:"format"`
	Home        string      `json:"home"`
	Epoch       uint32      `json:"epoch"`
	Created     time.Time   `json:"created"`
	KEM         string      `json:"kem"`      // base64 MLKEM768X25519 public key
	SignKey     string      `json:"sign_key"` // base64 Ed25519 public key
	Threshold   int         `json:"threshold"`
	Custodians  []Custodian `json:"custodians"`
	Commitments []string    `json:"commitments"` // base64 Feldman commitments
	Fingerprint string      `json:"fingerprint"`
}

// Epoch is a verified epoch record.
type Epoch struct {
	EpochBody
	kem  []byte
	sign ed25519.PublicKey
}

// HomeIDFor derives a home's identity from its epoch-1 signing key.
func HomeIDFor(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "h" + hex.EncodeToString(h[:10])
}

func epochName(e uint32) string { return fmt.Sprintf("epoch-%08d", e) }

func parseEpochName(s string) (uint32, bool) {
	var e uint32
	if n, err := fmt.Sscanf(s, "epoch-%08d", &e); err != nil || n != 1 || epochName(e) != s {
		return 0, false
	}
	return e, true
}

func signBody(priv ed25519.PrivateKey, ctx string, body any, epoch uint32, prev ed25519.PrivateKey) ([]byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	s := Signed{Body: raw, Epoch: epoch, Sig: b64(keys.Sign(priv, ctx, raw))}
	if prev != nil {
		s.PrevSig = b64(keys.Sign(prev, ctx, raw))
	}
	return json.Marshal(s)
}

// verifyRepoBody checks config/repo and returns the body. If wantHome is
// set, the descriptor must belong to that home.
func verifyRepoBody(data []byte, wantHome string) (*RepoBody, ed25519.PublicKey, error) {
	var s Signed
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, nil, fmt.Errorf("config/repo: %v: %w", err, errFormat)
	}
	var body RepoBody
	if err := json.Unmarshal(s.Body, &body); err != nil {
		return nil, nil, fmt.Errorf("config/repo body: %v: %w", err, errFormat)
	}
	if body.Format != repoFormat {
		return nil, nil, fmt.Errorf("config/repo format %q is not %s: %w", body.Format, repoFormat, errFormat)
	}
	pub, err := unb64(body.SignKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("config/repo signing key: %w", errFormat)
	}
	sig, err := unb64(s.Sig)
	if err != nil || !keys.Verify(pub, repoSigCtx, s.Body, sig) {
		return nil, nil, fmt.Errorf("config/repo: %w", ErrSignature)
	}
	if HomeIDFor(pub) != body.Home {
		return nil, nil, fmt.Errorf("config/repo names home %s but its key belongs to %s: %w", body.Home, HomeIDFor(pub), ErrSignature)
	}
	if wantHome != "" && body.Home != wantHome {
		return nil, nil, fmt.Errorf("site holds home %s, not %s: %w", body.Home, wantHome, ErrForeignHome)
	}
	return &body, pub, nil
}

// ErrForeignHome means a site or share belongs to a different home.
var ErrForeignHome = errors.New("belongs to another home")

// verifyEpochs checks a chain of epoch records against the epoch-1 key.
// records maps epoch number to stored bytes. Gaps are allowed only below
// the oldest record present (older epochs may have been pruned) if that
// record is epoch 1 or chained to an earlier present record.
func verifyEpochs(home string, epoch1 ed25519.PublicKey, records map[uint32][]byte) (map[uint32]*Epoch, error) {
	out := make(map[uint32]*Epoch)
	var prev *Epoch
	for e := uint32(1); len(out) < len(records); e++ {
		data, ok := records[e]
		if !ok {
			return nil, fmt.Errorf("key epoch %d record is missing but later epochs exist: %w", e, errFormat)
		}
		var s Signed
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("epoch %d: %v: %w", e, err, errFormat)
		}
		var ep Epoch
		if err := json.Unmarshal(s.Body, &ep.EpochBody); err != nil {
			return nil, fmt.Errorf("epoch %d body: %v: %w", e, err, errFormat)
		}
		if ep.Format != epochFormat || ep.Epoch != e || ep.Home != home || s.Epoch != e {
			return nil, fmt.Errorf("epoch record %d is for home %s epoch %d: %w", e, ep.Home, ep.Epoch, ErrSignature)
		}
		sk, err := unb64(ep.SignKey)
		if err != nil || len(sk) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("epoch %d signing key: %w", e, errFormat)
		}
		ep.sign = sk
		if ep.kem, err = unb64(ep.KEM); err != nil {
			return nil, fmt.Errorf("epoch %d kem key: %w", e, errFormat)
		}
		sig, err := unb64(s.Sig)
		if err != nil || !keys.Verify(ep.sign, epochSigCtx, s.Body, sig) {
			return nil, fmt.Errorf("epoch %d self-signature: %w", e, ErrSignature)
		}
		if e == 1 {
			if !ep.sign.Equal(epoch1) {
				return nil, fmt.Errorf("epoch 1 key differs from config/repo: %w", ErrSignature)
			}
		} else {
			ps, err := unb64(s.PrevSig)
			if err != nil || !keys.Verify(prev.sign, epochSigCtx, s.Body, ps) {
				return nil, fmt.Errorf("epoch %d is not signed by epoch %d: %w", e, e-1, ErrSignature)
			}
		}
		out[e] = &ep
		prev = &ep
	}
	return out, nil
}
