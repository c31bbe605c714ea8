package cli

import (
	"github.com/spf13/cobra"
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
