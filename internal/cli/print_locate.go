package cli

import (
	"time"

	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/vault"
)

// The output of 'embassy site locate' and 'site locate --verify'.

// printLocated shows the evidence Locate signed and logged; err, the
// verdict's (a contradicted site), is returned after it.
func (e *env) printLocated(res *vault.Located, err error) error {
	if res == nil {
		return err
	}
	if e.json {
		if jerr := e.emitJSON(map[string]any{"file": res.Path, "sha256": res.SHA256, "bundle": res.Bundle}); jerr != nil {
			return jerr
		}
		return err
	}
	printLocation(e, res.Bundle)
	e.printf("evidence: %s (sha256 %s), recorded in the log\n", res.Path, res.SHA256)
	return err
}

// printLocationCheck shows a location evidence file checked offline.
func (e *env) printLocationCheck(c *vault.LocationCheck, err error) error {
	if err != nil {
		return err
	}
	ver, b := c.Verified, c.Bundle
	if e.json {
		return e.emitJSON(map[string]any{"ok": true, "home": ver.Home, "epoch": ver.Epoch, "home_bound": ver.HomeBound, "site": b.Site, "result": c.Result, "bundle": b})
	}
	e.printf("%s: signatures ok (home %s, epoch %d, home-bound %t)\n", c.File, ver.Home, ver.Epoch, ver.HomeBound)
	printLocation(e, b)
	return nil
}

func printLocation(e *env, b *locate.Bundle) {
	e.printf("site %s of home %s at %s\n", b.Site, b.Home, b.Created.Format(time.RFC3339))
	if b.Declared != nil {
		e.printf("  declared position %s\n", b.Declared)
	}
	if b.Verdict != nil {
		for _, d := range b.Verdict.Discs {
			e.printf("  %-8s %-20s min RTT %-10v at most %6.0f km (fibre %6.0f km); declared %6.0f km away: %s\n",
				d.Kind, d.Name, d.MinRTT.Round(time.Microsecond), d.ProofKm, d.FibreKm, d.DeclaredKm, d.State)
		}
		e.printf("  verdict: %s\n", b.Verdict.Result)
		for _, r := range b.Verdict.Reasons {
			e.printf("    %s\n", r)
		}
	}
	for _, p := range b.Problems {
		e.printf("  note: %s\n", p)
	}
}
