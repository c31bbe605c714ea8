package cli

import (
	"crypto/tls"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/vault"
)

// operateTLS holds operate's transport flags.
type operateTLS struct {
	vault.OperateTLS
	revoked string
	rev     *pki.Revocations // the CRL, once config has run with --crl
}

func (o *operateTLS) flags(f *pflag.FlagSet) {
	f.StringVar(&o.Cert, "tls-cert", "", "serve over TLS with this certificate (issued by the home CA: 'embassy pki issue --role site --name operate --host HOST')")
	f.StringVar(&o.Key, "tls-key", "", "the --tls-cert key")
	f.StringVar(&o.ClientCA, "client-ca", "", "also require officials' client certificates issued by this CA (mutual TLS)")
	f.StringVar(&o.CRL, "crl", "", "with --client-ca: the home CA's revocation list (pki/crl.pem), re-read on change; a revoked certificate is refused at every handshake and request, and each refusal is journalled and logged")
	f.StringVar(&o.revoked, "revoked", "", "revoked tokens ('embassy operate token revoke -o FILE'), re-read on every change and checked on every request")
}

// config returns the TLS configuration, or nil for plain HTTP
// (vault.OperateTLS.Config), and keeps the CRL it opened.
func (o *operateTLS) config(listen string) (tc *tls.Config, err error) {
	tc, o.rev, err = o.OperateTLS.Config(listen)
	return tc, err
}

func cmdOperateTokenRevoke(e *env) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "revoke TOKEN-ID... [-o FILE]",
		Short: "Revoke officials' tokens: a signed list, recorded in the log",
		Long: `Add token IDs to the home's signed revocation list (operate-revoked.json,
signed by the current epoch's root key, its number one higher), record the
revocation in the transparency log, and write a copy to -o FILE. Hand that
file to the crisis service ('embassy operate --revoked FILE'): it re-reads
it whenever it changes and refuses the revoked tokens on every request.
A key rotation ends every token anyway.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, id := range args {
				if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" {
					return usagef("token id %q: want the 24 hex digits 'operate token issue' printed", id)
				}
			}
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			defer v.Close()
			l, err := v.RevokeOperateTokens(e.ctx, args, out)
			if err != nil {
				return err
			}
			e.printf("revoked %s; revocation list %d signed: %s\n", plural(len(args), "token"), l.Number, firstNonEmpty(out, vault.OperateRevokedFile(v.Home)))
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "also write the signed list to FILE")
	return c
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
