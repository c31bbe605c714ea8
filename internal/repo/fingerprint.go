package repo

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
)

// fingerprintPrefix marks a home fingerprint (docs/FORMAT.md §4.1).
const fingerprintPrefix = "fp1"

// HomeFingerprint is what custodians keep to recognise their home: 128 bits
// of SHA-256 over the home id and its epoch-1 signing key, the root of the
// vault's trust, written "fp1-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx-xxxx". A
// forged vault (made with the custodians' public recipients) has another
// epoch-1 key and so another fingerprint.
func HomeFingerprint(home string, epoch1 ed25519.PublicKey) string {
	h := sha256.New()
	h.Write([]byte("embassy.v1 home fingerprint\x00"))
	h.Write([]byte(home))
	h.Write([]byte{0})
	h.Write(epoch1)
	x := hex.EncodeToString(h.Sum(nil)[:16])
	var b strings.Builder
	b.WriteString(fingerprintPrefix)
	for i := 0; i < len(x); i += 4 {
		b.WriteByte('-')
		b.WriteString(x[i : i+4])
	}
	return b.String()
}

// Fingerprint returns the home's fingerprint.
func (r *Repo) Fingerprint() string {
	pub, _ := unb64(r.desc.SignKey)
	return HomeFingerprint(r.home, pub)
}

// ErrWrongHome means a site presents a vault whose fingerprint is not the
// one the operator pinned: a forged or different vault.
var ErrWrongHome = errors.New("vault fingerprint does not match the pinned one")

// ErrUnpinned means a home was about to be rebuilt from a site without a
// fingerprint to check it against.
var ErrUnpinned = errors.New("no home fingerprint pinned")

// NormalizeFingerprint returns the canonical form of a fingerprint typed by
// an operator (case, spaces and dashes do not matter), or an error.
func NormalizeFingerprint(s string) (string, error) {
	x := strings.ToLower(strings.NewReplacer(" ", "", "-", "", ":", "").Replace(strings.TrimSpace(s)))
	x = strings.TrimPrefix(x, fingerprintPrefix)
	if len(x) != 32 {
		return "", hint.WithCode(hint.Wrap(fmt.Errorf("invalid home fingerprint %q", s),
			"give the fingerprint exactly as 'embassy init' or 'embassy key status' printed it (fp1- and 32 hex digits)"), hint.CodeUsage)
	}
	if _, err := hex.DecodeString(x); err != nil {
		return "", hint.WithCode(fmt.Errorf("invalid home fingerprint %q: not hex", s), hint.CodeUsage)
	}
	var b strings.Builder
	b.WriteString(fingerprintPrefix)
	for i := 0; i < len(x); i += 4 {
		b.WriteByte('-')
		b.WriteString(x[i : i+4])
	}
	return b.String(), nil
}

// CheckFingerprint compares the fingerprint a site presents with the pinned
// one. An empty pin is refused (exit 4) with the presented fingerprint, so
// that the operator checks it against the custodians' record; a different
// one is refused as a forged vault (exit 3).
func CheckFingerprint(siteName, presented, pinned string) error {
	if pinned == "" {
		return hint.WithCode(hint.Wrap(fmt.Errorf("site %s presents home fingerprint %s: %w", siteName, presented, ErrUnpinned),
			"check it against the fingerprint the custodians were given at 'embassy init'; if it matches, re-run with --expect-home "+presented+" (plan files: 'home: "+presented+"')"), hint.CodeKey)
	}
	want, err := NormalizeFingerprint(pinned)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(presented)) != 1 {
		return hint.WithCode(hint.Wrap(fmt.Errorf("site %s presents home fingerprint %s, expected %s: %w", siteName, presented, want, ErrWrongHome),
			"this site holds a different or forged vault: do not use it; try another site of the home and tell its operators"), hint.CodeDamaged)
	}
	return nil
}
