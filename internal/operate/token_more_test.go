package operate

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
)

// FuzzVerifyToken: bearer tokens arrive from anyone who can reach the
// crisis service. Any string is refused with ErrToken, or is exactly the
// token the home issued (same id, official, expiry).
func FuzzVerifyTokenBytes(f *testing.F) {
	root, err := keys.NewRoot(1)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	tok, issued, err := Issue(root, "h1", "registrar", time.Hour, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("Bearer " + tok)
	f.Add(strings.Replace(tok, "emb1.", "emb2.", 1))
	f.Add("emb1..")
	f.Add("emb1.e30.AAAA")
	keyOf := func(e uint32) (ed25519.PublicKey, bool) { return root.SigningPublicKey(), e == 1 }
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Verify(s, "h1", keyOf, now.Add(time.Minute))
		if err != nil {
			if !errors.Is(err, ErrToken) {
				t.Fatalf("error %v does not wrap ErrToken", err)
			}
			return
		}
		if got.ID != issued.ID || got.Official != issued.Official || !got.Expires.Equal(issued.Expires) || got.Home != "h1" {
			t.Fatalf("a token the home never issued verifies: %+v", got)
		}
	})
}
