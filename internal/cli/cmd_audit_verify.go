package cli

import (
	"fmt"

	"github.com/digital-embassy/embassy/internal/vault"
	"github.com/spf13/cobra"
)

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
