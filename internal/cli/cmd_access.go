package cli

import (
	"github.com/spf13/cobra"
)

// The decisions (auto-deny, pending checks, the log entries, signing and
// pushing to daemons) are the vault's (internal/vault/access.go); these
// commands parse flags and print.

func cmdAccess(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "access",
		Short: "Access requests awaiting the sending state's approval",
		Long: `Access the sending state did not start (support, host service or review,
a legal demand) waits for its prior approval: 'access request' records a
host's request in the transparency log as pending; 'access approve' and
'access deny' decide it. Reason codes listed under auto-deny in policy.yaml
are denied at once (exit 3). Only the home's decisions count.

Host operators may file requests at a site's daemon instead; the daemon
holds the privileged operation they ask for until it has the home's
decision signed with the home's access key ('access key' prints the key
to configure the daemon with: embassyd --access-key). 'access list --pull'
brings such requests into the log and delivers decisions not yet
delivered; approve and deny push theirs at once.`,
	}
	c.AddCommand(cmdAccessRequest(e), cmdAccessDecide(e, true), cmdAccessDecide(e, false), cmdAccessList(e), cmdAccessKey(e))
	return c
}
