package vault

import (
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
)

// wantCode is wantErr (audit_ops_test.go) with the exit-code class first,
// as the cover_* tests read: err must read exactly msg, carry exactly the
// advice adv ("" for none) and the class code.
func wantCode(t *testing.T, err error, code hint.Code, msg, adv string) {
	t.Helper()
	wantErr(t, "error", err, msg, adv, code)
}
