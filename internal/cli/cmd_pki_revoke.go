package cli

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
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
			ca, err := pki.Load(pkiDir(h))
			if err != nil {
				return hint.Wrap(err, "revocation needs the home's CA ('embassy pki init')")
			}
			var certs []*x509.Certificate
			var names []string
			for _, f := range args {
				c, err := pki.LoadCert(f)
				if err != nil {
					return hint.WithCode(err, hint.CodeUsage)
				}
				certs = append(certs, c)
				id, _ := pki.Identify(c)
				names = append(names, fmt.Sprintf("%s (serial %s)", id, c.SerialNumber.Text(16)))
			}
			crl, p, err := ca.Revoke(pkiDir(h), certs...)
			if err != nil {
				return err
			}
			var serials []string
			for _, c := range certs {
				serials = append(serials, c.SerialNumber.Text(16))
			}
			if err := e.record(h, tlog.Entry{Kind: tlog.KindPKIRevoke, Object: crl.Number.String(), Details: map[string]string{
				"serials": strings.Join(serials, ","), "crl_number": crl.Number.String(), "revoked": fmt.Sprint(len(crl.RevokedCertificateEntries))}}); err != nil {
				return err
			}
			e.printf("revoked %s; CRL %s signed (%d certificates revoked in all)\n", strings.Join(names, ", "), crl.Number, len(crl.RevokedCertificateEntries))
			if noPush {
				return nil
			}
			failed := 0
			for _, sc := range h.Config.Sites {
				if !strings.HasPrefix(sc.URL, "embassy://") && !strings.HasPrefix(sc.URL, "https://") {
					continue
				}
				s := e.openSite(sc)
				err := s.Err()
				if err == nil {
					if rb := vault.DaemonOf(s.Backend); rb != nil {
						err = rb.PutCRL(e.ctx, p)
					}
					s.Backend.Close()
				}
				if err != nil {
					failed++
					e.warnf("site %s: CRL not pushed: %v", sc.Name, err)
					continue
				}
				e.printf("  %s: CRL %s installed\n", sc.Name, crl.Number)
			}
			if failed > 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("%d daemon sites still hold an older CRL", failed), "run 'embassy pki revoke' again when they are reachable"), hint.CodeDamaged)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&noPush, "no-push", false, "only sign and record the CRL; do not push it to the daemon sites")
	return c
}
