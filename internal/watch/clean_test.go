package watch

import (
	"strings"
	"testing"
)

// TestCleanN: CleanN bounds at n bytes what Clean bounds at one field's
// 128, with the same cleaning of control characters.
func TestCleanN(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 140) + "\x1b[2J"
	if got := Clean(long); got != strings.Repeat("x", maxField) {
		t.Fatalf("Clean: %d bytes %q", len(got), got)
	}
	if got, want := CleanN(long, MaxLine), strings.Repeat("x", 140)+"?[2J"; got != want {
		t.Fatalf("CleanN: %q, want %q", got, want)
	}
}
