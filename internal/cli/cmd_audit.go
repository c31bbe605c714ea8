package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
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

// auditPolicy returns the trust anchor: --policy, else the home's policy.
func (e *env) auditPolicy(file string) (*tlog.Policy, string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", err
		}
		p, err := tlog.ParsePolicy(b)
		return p, file, err
	}
	dir, err := e.homePath()
	if err != nil || !home.Exists(dir) {
		return nil, "", nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "log", tlog.PolicyFile))
	if err != nil {
		return nil, "", nil
	}
	p, err := tlog.ParsePolicy(b)
	return p, filepath.Join(dir, "log", tlog.PolicyFile), err
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
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			p, from, err := e.auditPolicy(policyFile)
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			damaged := func(err error) error {
				return hint.WithCode(hint.Wrap(fmt.Errorf("%s does not verify: %w", args[0], err),
					"the file, the log or a witness was tampered with, or the trust anchor is wrong; get the policy from the sending state out of band"), hint.CodeDamaged)
			}
			if bytes.HasPrefix(data, []byte("c2sp.org/tlog-proof@v1\n")) {
				if p == nil {
					return hint.WithCode(hint.Wrap(errors.New("no policy to verify the receipt against"), "pass --policy FILE (the log's C2SP tlog-policy)"), hint.CodeUsage)
				}
				ent, cp, err := tlog.VerifyReceipt(data, p)
				if err != nil {
					return damaged(err)
				}
				warnHomeAlone(e, p)
				if e.json {
					return e.emitJSON(map[string]any{"ok": true, "type": "receipt", "origin": cp.Origin, "tree_size": cp.Size,
						"cosigners": p.Cosigners(bytes.SplitN(data, []byte("\n\n"), 2)[1]), "entry": ent, "policy": from})
				}
				e.printf("OK: entry %d (%s, %s) is in %s at tree size %d, cosigned by the witness quorum (policy %s)\n",
					ent.Index, ent.Kind, ent.Time.Format(time.RFC3339), cp.Origin, cp.Size, from)
				return nil
			}
			if p == nil {
				fmt.Fprintln(e.stderr, "embassy: warning: no --policy and no home: trusting the keys inside the bundle")
				from = "embedded in the bundle"
			}
			if vault.IsAuditBundle(data) {
				return e.verifyAudit(data, p, from, since, until, damaged)
			}
			b, ents, err := tlog.VerifyBundle(data, p)
			if err != nil {
				return damaged(err)
			}
			if since != "" || until != "" {
				want, wantTo, err := parseRange(since, until, time.Now())
				if err != nil {
					return err
				}
				if err := b.Covers(want, wantTo); err != nil {
					return damaged(err)
				}
			}
			if p != nil {
				warnHomeAlone(e, p)
			}
			if e.json {
				return e.emitJSON(map[string]any{"ok": true, "type": "bundle", "origin": b.Origin, "entries": len(ents), "from": b.From, "to": b.To,
					"start": b.Start, "end": b.End, "policy": from})
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
				len(ents), first, last, b.Origin, period(b.From, "the start"), period(b.To, "the checkpoint"), from)
			return nil
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
			now := time.Now()
			from, to, err := parseRange(since, until, now)
			if err != nil {
				return err
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			data, b, err := e.vaultOf(h).AuditExport(e.ctx, from, to)
			if err != nil {
				return err
			}
			if err := atomicfile.Write(out, data, 0o644); err != nil {
				return err
			}
			_, ents, _ := tlog.VerifyBundle(b.Log, nil)
			for _, u := range b.Unavailable {
				fmt.Fprintf(e.stderr, "embassy: warning: entry %d: %s\n", u.Index, u.Why)
			}
			e.warned = e.warned || len(b.Unavailable) > 0
			if e.json {
				return e.emitJSON(map[string]any{"file": out, "entries": len(ents), "bytes": len(data), "key_use": len(b.Parts.KeyUse),
					"attestation": len(b.Parts.Attestation), "drills": len(b.Parts.Drills), "config": len(b.Parts.Config),
					"documents": len(b.Documents), "unavailable": b.Unavailable})
			}
			e.printf("Wrote %s: %d entries with proofs (key use %d, attestation %d, drills %d, configuration changes %d), %d documents, %d bytes\n",
				out, len(ents), len(b.Parts.KeyUse), len(b.Parts.Attestation), len(b.Parts.Drills), len(b.Parts.Config), len(b.Documents), len(data))
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
			r, _, err := e.readLog(h)
			if err != nil {
				return err
			}
			rc, err := r.Receipt(e.ctx, idx)
			if err != nil {
				return err
			}
			if err := atomicfile.Write(out, rc, 0o644); err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"file": out, "index": idx, "bytes": len(rc)})
			}
			e.printf("Wrote %s (%d bytes)\n", out, len(rc))
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
			r, hl, err := e.readLog(h)
			if err != nil {
				return err
			}
			cp, cerr := r.Check(e.ctx)
			alerts := vault.HomeWitnessAlerts(hl.dir)
			logAlerts, _ := tlog.ReadAlerts(filepath.Join(hl.dir, tlog.AlertsFile))
			if e.json {
				out := map[string]any{"ok": cerr == nil && len(alerts) == 0 && len(logAlerts) == 0, "witness_alerts": alerts, "log_alerts": logAlerts, "log_alert_groups": tlog.GroupAlerts(logAlerts)}
				if cerr != nil {
					out["error"] = cerr.Error()
				} else if cp != nil {
					out["tree_size"], out["origin"] = cp.Size, cp.Origin
				}
				if err := e.emitJSON(out); err != nil {
					return err
				}
			} else {
				switch {
				case errors.Is(cerr, tlog.ErrEmpty):
					e.printf("The log is empty.\n")
				case cerr != nil:
					e.printf("DAMAGED: %v\n", cerr)
				default:
					e.printf("OK: %s, %d entries, checkpoint cosigned by the witness quorum\n", cp.Origin, cp.Size)
				}
				for _, g := range vault.GroupWitnessAlerts(alerts) {
					a := g.Last
					if g.N > 1 {
						e.printf("ALERT (home witness %s) %s %d times from %s to %s: %s\n", a.Witness, a.Kind, g.N, g.First.Format(time.RFC3339), a.Time.Format(time.RFC3339), a.Message)
					} else {
						e.printf("ALERT (home witness %s) %s %s: %s\n", a.Witness, a.Time.Format(time.RFC3339), a.Kind, a.Message)
					}
				}
				for _, g := range tlog.GroupAlerts(logAlerts) {
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
			if cerr != nil && !errors.Is(cerr, tlog.ErrEmpty) {
				return hint.WithCode(fmt.Errorf("the log is damaged: %w", cerr), hint.CodeDamaged)
			}
			if len(alerts)+len(logAlerts) > 0 {
				e.warned = true
			}
			return nil
		},
	}
}

// verifyAudit checks an audit bundle offline (vault.VerifyAuditBundle).
func (e *env) verifyAudit(data []byte, p *tlog.Policy, from, since, until string, damaged func(error) error) error {
	res, err := vault.VerifyAuditBundle(data, p)
	if err != nil {
		return damaged(err)
	}
	if since != "" || until != "" {
		want, wantTo, err := parseRange(since, until, time.Now())
		if err != nil {
			return err
		}
		if err := res.Log.Covers(want, wantTo); err != nil {
			return damaged(err)
		}
	}
	if p != nil {
		warnHomeAlone(e, p)
	}
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
