package cli

import (
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/vault"
)

func (e *env) printAuditCheck(res *vault.AuditCheckResult) {
	switch {
	case res.Empty():
		e.printf("The log is empty.\n")
	case res.CheckErr != nil:
		e.printf("DAMAGED: %v\n", res.CheckErr)
	default:
		e.printf("OK: %s, %d entries, checkpoint cosigned by the witness quorum\n", res.Origin, res.TreeSize)
	}
	for _, g := range res.WitnessGroups {
		a := g.Last
		if g.N > 1 {
			e.printf("ALERT (home witness %s) %s %d times from %s to %s: %s\n", a.Witness, a.Kind, g.N, g.First.Format(time.RFC3339), a.Time.Format(time.RFC3339), a.Message)
		} else {
			e.printf("ALERT (home witness %s) %s %s: %s\n", a.Witness, a.Time.Format(time.RFC3339), a.Kind, a.Message)
		}
	}
	for _, g := range res.LogGroups {
		what := fmt.Sprintf("answered %d %s", g.Status, g.Kind)
		if g.Kind == "unreachable" {
			what = "unreachable"
		}
		e.printf("ALERT (log) witness %s %s", g.URL, what)
		if g.Count > 1 {
			e.printf(" %d times (%s) from %s to %s", g.Count, plural(g.Episodes, "episode"), g.First.Format(time.RFC3339), g.Last.Format(time.RFC3339))
		} else {
			e.printf(" at %s", g.Last.Format(time.RFC3339))
		}
		e.printf(": %s\n", g.Body)
	}
}

func (e *env) printReceipt(res *vault.AuditVerifyResult) error {
	ent := res.Entry
	if e.json {
		return e.emitJSON(map[string]any{"ok": true, "type": "receipt", "origin": res.Origin, "tree_size": res.TreeSize,
			"cosigners": res.Cosigners, "entry": ent, "policy": res.PolicyFrom})
	}
	e.printf("OK: entry %d (%s, %s) is in %s at tree size %d, cosigned by the witness quorum (policy %s)\n",
		ent.Index, ent.Kind, ent.Time.Format(time.RFC3339), res.Origin, res.TreeSize, res.PolicyFrom)
	return nil
}

func (e *env) printLogBundle(res *vault.AuditVerifyResult) error {
	b, ents := res.Bundle, res.Entries
	if e.json {
		return e.emitJSON(map[string]any{"ok": true, "type": "bundle", "origin": b.Origin, "entries": len(ents), "from": b.From, "to": b.To,
			"start": b.Start, "end": b.End, "policy": res.PolicyFrom})
	}
	first, last := "-", "-"
	if len(ents) > 0 {
		first, last = fmt.Sprint(ents[0].Index), fmt.Sprint(ents[len(ents)-1].Index)
	}
	period := func(t time.Time, open string) string {
		if t.IsZero() {
			return open
		}
		return t.Format(time.RFC3339)
	}
	e.printf("OK: %d entries (%s..%s) of %s verified against the cosigned checkpoint: every entry logged from %s to %s (policy %s)\n",
		len(ents), first, last, b.Origin, period(b.From, "the start"), period(b.To, "the checkpoint"), res.PolicyFrom)
	return nil
}

// printAuditBundle prints a verified audit bundle (vault.VerifyAuditBundle).
func (e *env) printAuditBundle(v *vault.AuditVerifyResult) error {
	res, from := v.Audit, v.PolicyFrom
	for _, u := range res.Unavailable {
		fmt.Fprintf(e.stderr, "embassy: warning: entry %d: document unavailable: %s\n", u.Index, u.Why)
	}
	if len(res.Unavailable) > 0 {
		e.warned = true
	}
	if e.json {
		return e.emitJSON(map[string]any{"ok": len(res.Unavailable) == 0, "type": "audit-bundle", "origin": res.Log.Origin, "entries": len(res.Entries),
			"from": res.Log.From, "to": res.Log.To, "key_use": len(res.Parts.KeyUse), "attestation": len(res.Parts.Attestation),
			"drills": len(res.Parts.Drills), "config": len(res.Parts.Config), "documents": res.Documents, "unavailable": res.Unavailable, "policy": from})
	}
	e.printf("OK: %d entries of %s verified against the cosigned checkpoint (policy %s)\n", len(res.Entries), res.Log.Origin, from)
	e.printf("  key-use log: %d entries; attestation history: %d records with evidence digests\n", len(res.Parts.KeyUse), len(res.Parts.Attestation))
	e.printf("  drill results: %d, configuration history: %d changes; %d documents match their logged digests\n", len(res.Parts.Drills), len(res.Parts.Config), res.Documents)
	if n := len(res.Unavailable); n > 0 {
		e.printf("PARTIAL: %d documents named by the log are not in the bundle\n", n)
	}
	return nil
}
