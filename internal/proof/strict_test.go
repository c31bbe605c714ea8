package proof

import (
	"bytes"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
)

// A challenge is decoded the one strict way: a second value, a stray
// closing brace or an unknown field is refused, and so is a body over
// MaxRequestBytes (not cut and decoded).
func TestDecodeChallengeStrict(t *testing.T) {
	c := NewChallenge([]site.Handle{{Kind: site.KindPack, Name: "a/b"}}, 0, 2, site.KindIndex)
	good, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeChallenge(bytes.NewReader(good)); err != nil {
		t.Fatalf("good challenge refused: %v", err)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"second value":   {string(good) + " {}", "decode challenge: trailing data"},
		"stray brace":    {string(good) + "}", "decode challenge: trailing data"},
		"unknown field":  {strings.Replace(string(good), "{", `{"extra":1,`, 1), `decode challenge: json: unknown field "extra"`},
		"over the bound": {string(good) + strings.Repeat(" ", MaxRequestBytes), "decode challenge: the request is over 67108864 bytes"},
	} {
		if _, err := DecodeChallenge(strings.NewReader(tc.body)); err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
