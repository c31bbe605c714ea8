package evidence

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"time"
)

// EpochKey is one verified key epoch of a home: its signing key and when
// the epoch began.
type EpochKey struct {
	Key     ed25519.PublicKey
	Created time.Time
}

// CheckEpoch checks an endorsed document against the home's verified key
// epochs (from its sites' signed epoch chain): the endorsing root key must
// be the key of the epoch it names, and a document made at made (zero:
// unknown) must predate the next epoch, whose existence retires the key.
// It refuses an endorsement by an epoch the home never had.
func CheckEpoch(v *Verified, made time.Time, epochs map[uint32]EpochKey) error {
	if !v.Endorsed {
		return nil
	}
	ep, ok := epochs[v.Epoch]
	if !ok {
		return fmt.Errorf("endorsed by key epoch %d, which home %s never had: %w", v.Epoch, v.Home, ErrSignature)
	}
	rk, err := base64.StdEncoding.DecodeString(v.RootKey)
	if err != nil || !ep.Key.Equal(ed25519.PublicKey(rk)) {
		return fmt.Errorf("endorsed by a key that is not home %s's epoch %d key: %w", v.Home, v.Epoch, ErrSignature)
	}
	if next, ok := epochs[v.Epoch+1]; ok && !made.IsZero() && !made.Before(next.Created) {
		return fmt.Errorf("made %s, after key epoch %d replaced epoch %d (%s): %w",
			made.UTC().Format(time.RFC3339), v.Epoch+1, v.Epoch, next.Created.UTC().Format(time.RFC3339), ErrSignature)
	}
	return nil
}
