package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// The CLI behaviour of the policy on site add, site sync, snapshot,
// protect and disclose is the script testdata/script/policy_wiring.txtar
// (and restore_gate.txtar for restores).

// policyDenials returns the policy-denied entries of the transparency log.
func policyDenials(t *testing.T, home string) []tlog.Indexed {
	t.Helper()
	var ents []tlog.Indexed
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "log")), &ents); err != nil {
		t.Fatal(err)
	}
	var out []tlog.Indexed
	for _, x := range ents {
		if x.Kind == tlog.KindPolicyChange && x.Details["event"] == "policy-denied" {
			out = append(out, x)
		}
	}
	return out
}

// hasDenial reports whether ents holds a denial of action at site (any
// site if empty) with rule among its comma-separated rules.
func hasDenial(ents []tlog.Indexed, action, site, rule string) bool {
	for _, x := range ents {
		if x.Details["action"] == action && (site == "" || x.Site == site) && slices.Contains(strings.Split(x.Details["rules"], ","), rule) {
			return true
		}
	}
	return false
}

// TestPolicyDeniedSiteClosed: a denied site is failed and closed, so it is
// neither written nor read, and the denial's error says what was denied.
func TestPolicyDeniedSiteClosed(t *testing.T) {
	s := &repo.Site{Name: "lu"}
	denySite(s, policy.Decision{Reasons: []string{"because"}})
	if s.Backend != nil || !vault.IsDenied(s.Err()) {
		t.Fatalf("denied site: backend %v, err %v", s.Backend, s.Err())
	}
	if got, want := denyError("restore of ds", policy.Decision{Reasons: []string{"because"}}).Error(), "policy denies restore of ds: because"; got != want {
		t.Fatalf("denial error %q, want %q", got, want)
	}
}
