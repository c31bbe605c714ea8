package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMainRefusesBadInvocations: usage errors exit 2 and missing or wrong
// TLS material exits 1, each with an error naming the problem and, where
// there is one, the way out. The full daemon is tested with the real
// binary in cmd/embassy (TestDaemon*).
func TestMainRefusesBadInvocations(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown flag", []string{"--bogus"}, 2, []string{"bogus"}},
		{"bad log level", []string{"--log-level", "loud"}, 2, []string{`--log-level "loud"`, "debug, info, warn or error"}},
		{"nothing given", nil, 2, []string{"--store, --ca, --cert and --key are required"}},
		{"unreadable certificates", []string{"--store", filepath.Join(dir, "s"), "--ca", junk, "--cert", junk, "--key", junk}, 1,
			[]string{"embassyd: error:", "embassyd: hint:", "embassy pki issue --role site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			code := Main(context.Background(), tc.args, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}
