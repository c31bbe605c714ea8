package strict

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestJSON(t *testing.T) {
	type doc struct{ A int }
	for _, tc := range []struct {
		name, in string
		want     error  // errors.Is target, or nil
		text     string // exact error text when want is nil and an error is expected
		a        int
	}{
		{name: "one value", in: `{"A":1}`, a: 1},
		{name: "whitespace after", in: " {\"A\":2} \t\r\n", a: 2},
		{name: "unknown field", in: `{"A":1,"B":2}`, text: `json: unknown field "B"`},
		{name: "second value", in: `{"A":1} {"A":2}`, want: ErrTrailing},
		{name: "second value, no space", in: `{"A":1}{}`, want: ErrTrailing},
		{name: "stray closing brace", in: `{"A":1}}`, want: ErrTrailing},
		{name: "stray closing bracket", in: `{"A":1}]`, want: ErrTrailing},
		{name: "garbage", in: `{"A":1}x`, want: ErrTrailing},
		{name: "NUL", in: "{\"A\":1}\x00", want: ErrTrailing},
		{name: "truncated", in: `{"A":`, text: "unexpected EOF"},
		{name: "empty", in: ``, text: "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v doc
			err := JSON([]byte(tc.in), &v)
			switch {
			case tc.want != nil:
				if !errors.Is(err, tc.want) || err.Error() != "trailing data" {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			case tc.text != "":
				if err == nil || err.Error() != tc.text {
					t.Fatalf("err = %v, want %q", err, tc.text)
				}
			default:
				if err != nil || v.A != tc.a {
					t.Fatalf("err = %v, v = %+v, want A=%d", err, v, tc.a)
				}
			}
		})
	}
}

// FuzzJSON: whatever JSON accepts is exactly what json.Unmarshal with
// unknown fields refused accepts, and it round-trips.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"A":1}`, `{"A":1}}`, `{"A":1} {}`, `{"A":1,"B":2}`, `[]`, ` {"A":-3} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		type doc struct{ A int }
		var v doc
		err := JSON(b, &v)
		var parsed any
		valid := json.Unmarshal(b, &parsed) == nil
		if err == nil && !valid {
			t.Fatalf("accepted %q, which is not one JSON value", b)
		}
		if err == nil {
			out, _ := json.Marshal(v)
			var w doc
			if JSON(out, &w) != nil || w != v {
				t.Fatalf("round trip of %q: %s", b, out)
			}
		}
		if errors.Is(err, ErrTrailing) && valid {
			t.Fatalf("refused %q as trailing, but it is one JSON value", b)
		}
	})
}
