package cli

import (
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/vault"
)

// printDrill is the output of 'embassy drill': the report's verdict, RTO,
// datasets and failures, or its JSON; a failed drill exits 3 (e.warned).
// When the drill stopped with err after its report was made, the report's
// failures go to stderr before err is returned.
func printDrill(e *env, res *vault.DrillResult, out string, err error) error {
	if err != nil {
		if res != nil && res.Report != nil && !e.json {
			for _, f := range res.Report.Failures {
				fmt.Fprintf(e.stderr, "embassy: drill: %s\n", f)
			}
		}
		return err
	}
	rep := res.Report
	e.warned = e.warned || !rep.Pass
	if e.json {
		return e.emitJSON(map[string]any{"report": out, "sha256": res.Digest, "pass": rep.Pass, "rto_seconds": rep.RTOMeasured,
			"rto_target_seconds": rep.RTOTarget, "datasets": rep.Datasets, "failures": rep.Failures})
	}
	verdict := map[bool]string{true: "PASS", false: "FAIL"}[rep.Pass]
	e.printf("drill %s: %s\n  RTO %s (target %gs)\n", rep.Plan, verdict, rtoText(rep.RTOMeasured), rep.RTOTarget)
	for _, d := range rep.Datasets {
		e.printf("  %s: snapshot %s, RPO achieved %.0fs (target %gs)\n", d.Dataset, d.Snapshot[:12], d.AchievedSec, d.TargetSec)
	}
	for _, f := range rep.Failures {
		e.printf("  failed: %s\n", f)
	}
	e.printf("  signed report: %s (sha256 %s)\n", out, res.Digest[:16])
	return nil
}

// printDrillVerified is the output of 'embassy drill verify REPORT': the
// signature, its endorsement and, for a drill report, its verdict; err,
// the check's, is returned as is.
func printDrillVerified(e *env, v *vault.CheckedReport, err error) error {
	if err != nil {
		return err
	}
	body := v.Body
	if e.json {
		return e.emitJSON(map[string]any{"ok": true, "kind": v.Kind, "key": v.Key, "endorsed": v.Endorsed, "home": v.Home,
			"epoch": v.Epoch, "root_key": v.RootKey, "home_bound": v.HomeBound, "body": body})
	}
	e.printf("%s: signature ok (key %s)\n", v.Kind, v.Key)
	if v.Endorsed {
		bound := "check the root key against the home's key epochs"
		if v.HomeBound {
			bound = "the home id is derived from it"
		}
		e.printf("  endorsed by home %s epoch %d root key %s (%s)\n", v.Home, v.Epoch, v.RootKey, bound)
	}
	if pass, ok := body["pass"].(bool); ok {
		rto, _ := body["rto_measured_seconds"].(float64)
		e.printf("  pass: %t, RTO %s\n", pass, rtoText(rto))
		if f, ok := body["failures"].([]any); ok {
			for _, x := range f {
				e.printf("  failed: %s\n", strings.TrimSpace(fmt.Sprint(x)))
			}
		}
	}
	return nil
}

// rtoText is a drill's measured RTO; -1 (drill.Report) is none: no probe
// succeeded, which read "RTO -1.0s".
func rtoText(sec float64) string {
	if sec < 0 {
		return "not reached" // the failed rto check says why
	}
	return fmt.Sprintf("%.1fs", sec)
}
