package operate

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/keys"
)

func TestTokenAndEvidence(t *testing.T) {
	root, err := keys.NewRoot(1)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := keys.NewRoot(1)
	now := time.Unix(1_800_000_000, 0)
	tok, _, err := Issue(root, "h1", "registrar", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	keyOf := func(r *keys.Root) func(uint32) (ed25519.PublicKey, bool) {
		return func(e uint32) (ed25519.PublicKey, bool) { return r.SigningPublicKey(), e == 1 }
	}
	for _, tc := range []struct {
		name string
		home string
		key  *keys.Root
		at   time.Time
		ok   bool
	}{
		{"valid", "h1", root, now.Add(time.Minute), true},
		{"expired", "h1", root, now.Add(2 * time.Hour), false},
		{"other home", "h2", root, now, false},
		{"forged", "h1", other, now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tok, tc.home, keyOf(tc.key), tc.at)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrToken)) {
				t.Fatalf("got %v, want ok=%t", err, tc.ok)
			}
		})
	}
	d, err := evidence.Sign(evidence.KindDrillReport, map[string]any{"pass": true}, DeriveSigner(root, "x"), "h1", 1, root.Signer())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := evidence.Verify(d, nil); err != nil || !v.Endorsed {
		t.Fatalf("verify: %v %+v", err, v)
	}
	d.Body = []byte(`{"pass":false}`)
	if _, err := evidence.Verify(d, nil); !errors.Is(err, evidence.ErrSignature) {
		t.Fatalf("tampered body: got %v", err)
	}
}
