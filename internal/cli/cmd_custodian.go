package cli

import (
	"github.com/spf13/cobra"
)

func cmdCustodian(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "custodian",
		Short: "Create and inspect custodian identities",
		Long: `Custodians hold the shares of the home's root key. Each is identified by an
age recipient: hybrid post-quantum (age1pq1..., ML-KEM-768 + X25519) by
default, classic X25519 (age1...) accepted.`,
	}
	c.AddCommand(cmdCustodianKeygen(e), cmdCustodianShow(e))
	return c
}
