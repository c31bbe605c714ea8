package cli

import (
	"fmt"

	"github.com/digital-embassy/embassy/internal/vault"
	"github.com/spf13/cobra"
)

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
