package cli

import (
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/vault"
)

// printBreakGlass shows 'break-glass status': each site's break-glass
// state and the policy's key-release decision there.
func (e *env) printBreakGlass(rows []vault.BreakGlassRow) error {
	if e.json {
		return e.emitJSON(rows)
	}
	for _, r := range rows {
		state := "closed"
		if r.Open {
			state = fmt.Sprintf("OPEN since %s (disclosure %d)", r.Since.UTC().Format("2006-01-02 15:04"), r.Opened)
		}
		rel := "key release to an attested workload: allowed"
		if !r.KeyRelease.Allow {
			rel = "key release: refused (" + strings.Join(r.KeyRelease.Rules, ",") + ")"
		}
		e.printf("%s: break-glass %s; %s\n", r.Site, state, rel)
	}
	return nil
}
