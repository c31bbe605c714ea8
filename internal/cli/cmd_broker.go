package cli

import (
	"github.com/spf13/cobra"
)

// cmdBroker is 'embassy broker': the key broker for attested workloads.
// The logic is in internal/vault (broker.go, broker_store.go) over
// internal/broker; this file parses flags and prints.
func cmdBroker(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "broker",
		Short: "Release dataset keys to attested workloads (key broker)",
		Long: `broker runs the sending state's key broker: workloads at host sites present
TPM evidence bound to a broker nonce and to a key they generated, and receive
a dataset's keys wrapped to that key only if the evidence verifies, the
workload identity is pinned, nothing is revoked and a release rule of
<home>/broker/release.yaml allows it. See docs/BROKER.md.`,
	}
	c.AddCommand(cmdBrokerServe(e), cmdBrokerRefs(e), cmdBrokerWorkload(e), cmdBrokerRevoke(e))
	return c
}
