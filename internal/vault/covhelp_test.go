package vault

import (
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
)

// wantErr fails t unless err reads exactly msg, carries exactly the
// advice adv ("" for none) and the exit-code class code.
func wantErr(t *testing.T, err error, code hint.Code, msg, adv string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q (code %d)", msg, code)
	}
	if err.Error() != msg || hint.Of(err) != adv || hint.CodeOf(err) != code {
		t.Fatalf("error %q, hint %q, code %d\nwant  %q, hint %q, code %d", err, hint.Of(err), hint.CodeOf(err), msg, adv, code)
	}
}
