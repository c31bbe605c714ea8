package vault

import (
	"strings"
	"testing"
)

// TestPlainText: host-written text is logged and printed without control
// characters, bidirectional overrides or invalid UTF-8, within a log
// detail's limit, and not cut short below it.
func TestPlainText(t *testing.T) {
	in := "refused\x1b[2J\u202eevil\xff " + strings.Repeat("é", 600)
	got := plainText(in)
	if strings.ContainsAny(got, "\x1b\u202e") || !strings.Contains(got, "é") || len(got) > 1000 || len(got) < 990 || !strings.HasPrefix(got, "refused?[2J?evil? é") {
		t.Fatalf("%q (%d bytes)", got, len(got))
	}
}
