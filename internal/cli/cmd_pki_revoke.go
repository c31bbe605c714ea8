package cli

import (
	"github.com/spf13/cobra"
)

func cmdPKIRevoke(e *env) *cobra.Command {
	var noPush bool
	c := &cobra.Command{
		Use:   "revoke CERT...",
		Short: "Revoke certificates: sign a new CRL, record it in the log, push it to every daemon site",
		Long: `Revoke certificates the home CA issued (an operator who left, a lost home
key, a site certificate that leaked). The CA signs a new revocation list
(pki/crl.pem, its number one higher), the revocation is recorded in the
transparency log, and the list is pushed to every embassy daemon site
(PUT /v1/crl), which from then on refuses those certificates on every
connection and request, daemon and witness alike, and records each refusal
as an access event that 'embassy site events' pulls into the log. A site
that cannot be reached keeps its older list: run the command again (the
same list is pushed) once it is back, or copy pki/crl.pem to its --crl file.
Standalone witnesses ('witness serve --crl') and the crisis service
('operate --client-ca --crl') re-read the file they are given on every
connection: give them pki/crl.pem (or a copy kept current).`,
		Example: `  embassy pki revoke ops-lu/ops.crt`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			v := e.vaultOf(h)
			rev, err := v.RevokeCertificates(e.ctx, args)
			if err != nil {
				return err
			}
			e.printRevocation(rev)
			if noPush {
				return nil
			}
			pushes, err := v.PushCRL(e.ctx, rev)
			e.printCRLPushes(rev, pushes)
			return err
		},
	}
	c.Flags().BoolVar(&noPush, "no-push", false, "only sign and record the CRL; do not push it to the daemon sites")
	return c
}
