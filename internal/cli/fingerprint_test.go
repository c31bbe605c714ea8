package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// homeFingerprint returns the home fingerprint 'key status --json' reports.
func homeFingerprint(t *testing.T, home string) string {
	t.Helper()
	var st struct {
		FP string `json:"home_fingerprint"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "key", "status")), &st); err != nil || !strings.HasPrefix(st.FP, "fp1-") {
		t.Fatalf("key status: fingerprint %q: %v", st.FP, err)
	}
	return st.FP
}
