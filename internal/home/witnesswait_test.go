package home

import (
	"strings"
	"testing"
	"time"
)

// TestWitnessWait: witness-wait is a duration from 1s to 1h, 30s unless
// set; anything else is refused naming the field and the range.
func TestWitnessWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		want time.Duration
		err  string
	}{
		{"", 30 * time.Second, ""},
		{"witness-wait: 1s\n", time.Second, ""},
		{"witness-wait: 2m\n", 2 * time.Minute, ""},
		{"witness-wait: 1h\n", time.Hour, ""},
		{"witness-wait: 500ms\n", 0, `witness-wait: "500ms" is not a duration from 1s to 1h0m0s (such as 30s or 2m)`},
		{"witness-wait: 2h\n", 0, `witness-wait: "2h" is not a duration from 1s to 1h0m0s (such as 30s or 2m)`},
		{"witness-wait: soon\n", 0, `witness-wait: "soon" is not a duration from 1s to 1h0m0s (such as 30s or 2m)`},
	} {
		c, err := Parse(strings.NewReader("home: h0123456789abcdef0123\n" + tc.yaml + "sites: []\n"))
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %s", tc.yaml, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.yaml, err)
		case c.WitnessWaitDuration() != tc.want:
			t.Errorf("%q: %s, want %s", tc.yaml, c.WitnessWaitDuration(), tc.want)
		}
	}
}
