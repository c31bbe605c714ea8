package cli

import (
	"fmt"

	"github.com/digital-embassy/embassy/internal/vault"
	"github.com/spf13/cobra"
)

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
