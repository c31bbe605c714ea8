package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdAudit(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Receipts, evidence bundles and offline verification of the transparency log",
		Long: `Hand out proofs from the transparency log and check them offline.

A receipt (c2sp.org/tlog-proof) proves one entry: the entry, its Merkle
inclusion proof and the checkpoint cosigned by the witness quorum. An
evidence bundle proves every entry of a period. Both verify with no network,
against the C2SP tlog-policy that names the log's key and the witnesses'.`,
	}
	c.AddCommand(cmdAuditVerify(e), cmdAuditExport(e), cmdAuditReceipt(e), cmdAuditCheck(e))
	return c
}

func cmdAuditVerify(e *env) *cobra.Command {
	var policyFile, since, until string
	c := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify a receipt or an evidence bundle offline",
		Long: `Verify a receipt (c2sp.org/tlog-proof) or an evidence bundle with no network:
the log's signature on the checkpoint, the witness quorum's cosignatures
(Ed25519 and ML-DSA-44), and each entry's inclusion proof.

The trust anchor is --policy FILE (a C2SP tlog-policy obtained out of band),
else the home's policy. A bundle carries its own policy: with neither, it is
checked against that one and a warning says so. A bundle proves every entry
of its own period (it cannot be cut at either end); pass the period you
asked for with --from/--to to refuse one made for a shorter period. Exit
code 3 if it fails.`,
		Example: `  embassy audit verify receipt-42.tlog-proof
  embassy audit verify --policy embassy-ee.policy evidence-2026-11.json --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rq := vault.AuditVerifyRequest{File: args[0], PolicyFile: policyFile, Period: since != "" || until != "",
				Warn: func(msg string) { fmt.Fprintf(e.stderr, "embassy: warning: %s\n", msg) }}
			if rq.Period {
				var err error
				if rq.From, rq.To, err = parseRange(since, until, e.now()); err != nil {
					return err
				}
			}
			if policyFile == "" {
				rq.HomeDir, _ = e.homePath()
			}
			res, err := vault.AuditVerify(rq)
			if err != nil {
				return err
			}
			if res.Policy != nil {
				warnHomeAlone(e, res.Policy)
			}
			switch res.Type {
			case vault.AuditReceiptType:
				return e.printReceipt(res)
			case vault.AuditFullType:
				return e.printAuditBundle(res)
			}
			return e.printLogBundle(res)
		},
	}
	c.Flags().StringVar(&policyFile, "policy", "", "C2SP tlog-policy file to trust (default: the home's)")
	c.Flags().StringVar(&since, "from", "", "bundles: refuse unless the bundle covers the period from this time (as for export)")
	c.Flags().StringVar(&until, "to", "", "bundles: refuse unless the bundle covers the period to this time")
	return c
}

func cmdAuditExport(e *env) *cobra.Command {
	var since, until, out string
	c := &cobra.Command{
		Use:   "export --from T1 --to T2 -o FILE",
		Short: "Write an auditor's evidence bundle for a period",
		Long: `Write an evidence bundle: every entry logged in the period (as one contiguous
range of the log, so nothing in between can be left out), each with its
inclusion proof, the checkpoint cosigned by the witness quorum, and the
policy with the log's and witnesses' keys; indexed in four parts (the
key-use log: key.unwrap and key.use; the attestation history: the key
broker's key.release and key.refuse records with their evidence digests;
the drill results; the configuration history: every change of
embassy.yaml, policy.yaml, protect.yaml, watch.yaml, the log policy and
the agreements, with content digests), and carrying the documents those
entries name by digest: every drill's signed report and every
configuration version. Configuration changes not yet logged are logged
first. 'embassy audit verify' checks it offline; docs/FORMAT.md
("Audit bundle") and docs/formats/tlog.md specify it for independent
verifiers. Exit code 3 if a document named by the log is no longer in
the home (it is declared unavailable in the bundle).`,
		Example: `  embassy audit export --from 2026-11-01 --to 2026-12-01 -o evidence-2026-11.json
  embassy audit export --from 30d -o last-month.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to, err := parseRange(since, until, e.now())
			if err != nil {
				return err
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).AuditExportTo(e.ctx, vault.AuditExportRequest{From: from, To: to, Output: out})
			if err != nil {
				return err
			}
			b := res.Bundle
			for _, u := range b.Unavailable {
				fmt.Fprintf(e.stderr, "embassy: warning: entry %d: %s\n", u.Index, u.Why)
			}
			e.warned = e.warned || len(b.Unavailable) > 0
			if e.json {
				return e.emitJSON(map[string]any{"file": res.File, "entries": res.Entries, "bytes": res.Bytes, "key_use": len(b.Parts.KeyUse),
					"attestation": len(b.Parts.Attestation), "drills": len(b.Parts.Drills), "config": len(b.Parts.Config),
					"documents": len(b.Documents), "unavailable": b.Unavailable})
			}
			e.printf("Wrote %s: %d entries with proofs (key use %d, attestation %d, drills %d, configuration changes %d), %d documents, %d bytes\n",
				res.File, res.Entries, len(b.Parts.KeyUse), len(b.Parts.Attestation), len(b.Parts.Drills), len(b.Parts.Config), len(b.Documents), res.Bytes)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&since, "from", "", "start of the period (RFC 3339, date, or duration ago)")
	f.StringVar(&until, "to", "", "end of the period (default: now)")
	f.StringVarP(&out, "output", "o", "", "bundle file to write")
	_ = c.MarkFlagRequired("output")
	return c
}

func cmdAuditReceipt(e *env) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "receipt INDEX -o FILE",
		Short: "Write a receipt (c2sp.org/tlog-proof) for one entry",
		Long: `Write a self-contained receipt for the entry at INDEX: the entry, its
inclusion proof and the latest checkpoint cosigned by the witness quorum, in
the C2SP tlog-proof format. Hand it to the host or an auditor; it verifies
offline with 'embassy audit verify --policy POLICY FILE'.`,
		Example: `  embassy audit receipt 42 -o receipt-42.tlog-proof`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var idx uint64
			if _, err := fmt.Sscan(args[0], &idx); err != nil {
				return usagef("INDEX %q: want an entry number (see 'embassy log')", args[0])
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).AuditReceipt(e.ctx, vault.AuditReceiptRequest{Index: idx, Output: out})
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"file": res.File, "index": res.Index, "bytes": res.Bytes})
			}
			e.printf("Wrote %s (%d bytes)\n", res.File, res.Bytes)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "receipt file to write")
	_ = c.MarkFlagRequired("output")
	return c
}

func cmdAuditCheck(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check the whole local log and show witness alerts",
		Long: `Check the home's log end to end: the published checkpoint against the policy,
every entry against the Merkle root, and the hash tiles through inclusion
proofs. Then list the alerts raised on both sides: checkpoints the home's
witnesses refused (forks, rollbacks, bad proofs) and refusals the log got
from any witness. Exit code 3 if the log is damaged or there are alerts.`,
		Example: `  embassy audit check
  embassy audit check --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).AuditCheck(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				out := map[string]any{"ok": res.OK(), "witness_alerts": res.WitnessAlerts, "log_alerts": res.LogAlerts, "log_alert_groups": res.LogGroups}
				if res.CheckErr != nil {
					out["error"] = res.CheckErr.Error()
				} else {
					out["tree_size"], out["origin"] = res.TreeSize, res.Origin
				}
				if err := e.emitJSON(out); err != nil {
					return err
				}
			} else {
				e.printAuditCheck(res)
			}
			if err := res.Err(); err != nil {
				return err
			}
			if res.Alerts() {
				e.warned = true
			}
			return nil
		},
	}
}

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
			e.printf(" %d times (%d episode(s)) from %s to %s", g.Count, g.Episodes, g.First.Format(time.RFC3339), g.Last.Format(time.RFC3339))
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
