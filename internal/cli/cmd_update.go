package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

// cmdUpdate is 'embassy update': the sending state's signed approval of
// updates to embassy infrastructure (framework requirement 16). The logic
// is in internal/vault/update.go; this file and cmd_update_approve.go,
// cmd_update_check.go parse flags, print_update.go prints.
func cmdUpdate(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "update",
		Short: "Approve, list, revoke and check updates of daemons, firmware and images",
		Long: `update keeps the sending state's control over updates at host sites. An
approval, signed with the home's root signing key and logged, names an
artifact by the SHA-256 of its file (a daemon build) and/or by the attestation
measurements it produces (firmware, image: TPM PCRs, SEV-SNP or TDX launch
measurement), with the digest of its SBOM and a validity. 'update check' asks
each daemon site which build it runs: an unapproved, revoked or expired one is
an alert (logged, exit 3). The key broker refuses keys of classes with the
attested-release key policy unless an approval in force covers the attested
measurements (refusal code "update"). See docs/formats/update-approval.md.`,
	}
	c.AddCommand(cmdUpdateApprove(e), cmdUpdateList(e), cmdUpdateRevoke(e), cmdUpdateCheck(e))
	return c
}

// updatesVault opens the vault (its epochs sign the approvals) without keys.
func (e *env) updatesVault() (*vault.Vault, error) {
	h, _, err := e.openVault(false)
	if err != nil {
		return nil, err
	}
	return e.vaultOf(h), nil
}

func cmdUpdateList(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List update approvals with their state (in force, expired, revoked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.updatesVault()
			if err != nil {
				return err
			}
			rows, err := v.UpdateStates()
			if err != nil {
				return err
			}
			return e.printUpdateStates(rows)
		},
	}
}

func cmdUpdateRevoke(e *env) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "revoke ID [--reason TEXT]",
		Short: "Withdraw an update approval at once (logged); releases it covered stop",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.updatesVault()
			if err != nil {
				return err
			}
			if err := v.RevokeUpdate(e.ctx, args[0], reason); err != nil {
				return err
			}
			e.printf("revoked update approval %s\n", args[0])
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (logged)")
	return c
}
