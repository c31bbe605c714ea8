package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdPKIIssue(e *env) *cobra.Command {
	var r vault.CertRequest
	c := &cobra.Command{
		Use:   "issue --role ROLE --name NAME -o DIR",
		Short: "Issue a certificate (writes DIR/NAME.crt, DIR/NAME.key and DIR/ca.crt)",
		Long: `Issue a certificate of the home CA. With --tpm the holder's key is made
inside the TPM of this machine (a primary key that never leaves the chip):
DIR/NAME.tpmkey names it instead of a key file, the certificate is issued
under the hardware-key policy, and daemons started with
--require-hardware-key ROLE accept only such certificates for that role.
Issue it on the machine whose TPM is to hold the key.`,
		Example: `  embassy pki issue --role operator --name ops-lu -o ops-lu --tpm`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := r.Check(); err != nil { // bad flags before the home is opened
				return err
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			is, err := vault.IssueCert(h, r)
			if err != nil {
				return err
			}
			return e.printIssued(is, r)
		},
	}
	f := c.Flags()
	f.StringVar(&r.Role, "role", "", "home, auditor, operator or site")
	f.StringVar(&r.Name, "name", "", "name of the holder (a-z, 0-9, '.', '-')")
	f.StringVarP(&r.Out, "output", "o", "", "directory for the certificate and key")
	f.StringSliceVar(&r.Hosts, "host", nil, "DNS name or IP of a site (repeatable)")
	f.DurationVar(&r.Lifetime, "lifetime", pki.DefaultLifetime, fmt.Sprintf("validity (at most %v)", pki.MaxLifetime))
	f.BoolVar(&r.TPM, "tpm", false, "make the key inside this machine's TPM (hardware-bound certificate, no key file)")
	f.StringVar(&r.TPMDevice, "tpm-device", pki.DefaultTPM, "the TPM for --tpm (sim:SEED is the reference simulator, for tests)")
	return c
}
