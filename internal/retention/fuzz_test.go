package retention

import (
	"testing"
)

func FuzzParseWithin(f *testing.F) {
	for _, s := range []string{"", "36h", "7d", "2w", "6m", "1y", "90m", "1h30m", "-1h", "-1d", "0d", "3q",
		"9223372036854775807y", "106751d", "106752d", "1e3h", "+5d", "5d ", " 5d", "5dd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseWithin(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseWithin(%q) = %v: negative (overflow?)", s, d)
		}
		if s != "" && d == 0 && s[0] != '0' && s[0] != '+' {
			t.Logf("ParseWithin(%q) = 0", s)
		}
	})
}
