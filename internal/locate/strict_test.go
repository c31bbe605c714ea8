package locate

import (
	"testing"
)

// A signed document from a peer is decoded the one strict way: a second
// value, a stray brace or an unknown field is refused.
func TestParseSignedStrict(t *testing.T) {
	good := `{"body":"e30=","signature":"AA=="}`
	if _, err := ParseSigned([]byte(good)); err != nil {
		t.Fatalf("good document refused: %v", err)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"second value":  {good + ` {}`, "signed document: trailing data"},
		"stray brace":   {good + `}`, "signed document: trailing data"},
		"unknown field": {`{"extra":1,"body":"e30=","signature":"AA=="}`, `signed document: json: unknown field "extra"`},
	} {
		if _, err := ParseSigned([]byte(tc.in)); err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
