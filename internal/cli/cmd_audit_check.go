package cli

import (
	"github.com/spf13/cobra"
)

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
