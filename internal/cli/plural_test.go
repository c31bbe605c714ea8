package cli

import "testing"

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "breach", "0 breaches"},
		{1, "breach", "1 breach"},
		{2, "CPU core", "2 CPU cores"},
		{1, "CPU core", "1 CPU core"},
		{1, "custodian", "1 custodian"},
		{3, "custodian", "3 custodians"},
	} {
		if got := plural(tc.n, tc.noun); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}

func TestArticle(t *testing.T) {
	for word, want := range map[string]string{"unapproved": "an unapproved", "expired": "an expired", "revoked": "a revoked", "error": "an error"} {
		if got := article(word); got != want {
			t.Errorf("article(%q) = %q, want %q", word, got, want)
		}
	}
}
