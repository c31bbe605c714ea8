package cli

import (
	"strings"

	"github.com/digital-embassy/embassy/internal/vault"
)

// printRevocation shows what 'pki revoke' revoked and the CRL it signed.
func (e *env) printRevocation(rev *vault.Revocation) {
	e.printf("revoked %s; CRL %s signed (%s revoked in all)\n", strings.Join(rev.Revoked, ", "), rev.Number, plural(rev.InAll, "certificate"))
}

// printCRLPushes shows each daemon site's answer to the CRL push: a
// warning for a site that still holds an older list.
func (e *env) printCRLPushes(rev *vault.Revocation, pushes []vault.CRLPush) {
	for _, p := range pushes {
		if p.Err != nil {
			e.warnf("site %s: CRL not pushed: %v", p.Site, p.Err)
			continue
		}
		e.printf("  %s: CRL %s installed\n", p.Site, rev.Number)
	}
}
