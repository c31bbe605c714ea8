package daemon

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/hint"
)

// TestAccessKeyOf: --access-key is the key when it parses as one, else a
// file holding it, whatever characters its path has ('+' included, as in
// keys); what is neither is refused naming both readings and the way out.
func TestAccessKeyOf(t *testing.T) {
	_, vkey, err := note.GenerateKey(rand.Reader, "h0123/access")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "home+lu")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	plusFile := filepath.Join(dir, "decision.key.pub")
	if err := os.WriteFile(plusFile, []byte(vkey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad+key")
	if err := os.WriteFile(bad, []byte("h0123/access+0badc0de+not-base64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const adv = "give the key line 'embassy access key' prints, or a file holding it"
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "none", in: "", want: ""},
		{name: "the key itself", in: vkey, want: vkey},
		{name: "the key with a newline", in: vkey + "\n", want: vkey},
		{name: "a path holding +", in: plusFile, want: vkey},
		{name: "a path holding + that does not exist", in: filepath.Join(dir, "nope.pub"),
			err: "--access-key " + filepath.Join(dir, "nope.pub") + ": neither a verifier key (malformed verifier id) nor a readable file (no such file or directory)"},
		{name: "a key that does not parse", in: "h0123/access+0badc0de+not-base64",
			err: "--access-key h0123/access+0badc0de+not-base64: neither a verifier key (malformed verifier id) nor a readable file (no such file or directory)"},
		{name: "a directory", in: dir,
			err: "--access-key " + dir + ": neither a verifier key (malformed verifier id) nor a readable file (is a directory)"},
		{name: "a file not holding a key", in: bad,
			err: "--access-key file " + bad + " does not hold a verifier key: malformed verifier id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := accessKeyOf(tc.in)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("accessKeyOf(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil || err.Error() != tc.err || hint.Of(err) != adv || hint.CodeOf(err) != hint.CodeUsage {
				t.Fatalf("accessKeyOf(%q): error %v (hint %q, code %d)\nwant %s", tc.in, err, hint.Of(err), hint.CodeOf(err), tc.err)
			}
		})
	}
}
