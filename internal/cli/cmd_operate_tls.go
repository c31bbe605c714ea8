package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/vault"
)

// operateTLS holds operate's transport flags.
type operateTLS struct {
	cert, key, clientCA, revoked, crl string
	rev                               *pki.Revocations // the CRL, once config has run with --crl
}

func (o *operateTLS) flags(f *pflag.FlagSet) {
	f.StringVar(&o.cert, "tls-cert", "", "serve over TLS with this certificate (issued by the home CA: 'embassy pki issue --role site --name operate --host HOST')")
	f.StringVar(&o.key, "tls-key", "", "the --tls-cert key")
	f.StringVar(&o.clientCA, "client-ca", "", "also require officials' client certificates issued by this CA (mutual TLS)")
	f.StringVar(&o.crl, "crl", "", "with --client-ca: the home CA's revocation list (pki/crl.pem), re-read on change; a revoked certificate is refused at every handshake and request, and each refusal is journalled and logged")
	f.StringVar(&o.revoked, "revoked", "", "revoked tokens ('embassy operate token revoke -o FILE'), re-read on every change and checked on every request")
}

// config returns the TLS configuration, or nil for plain HTTP, which is
// allowed only on a loopback address (behind a local TLS proxy).
func (o *operateTLS) config(listen string) (*tls.Config, error) {
	if o.cert == "" && o.key == "" {
		host, _, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, hint.WithCode(fmt.Errorf("--listen %s: %w", listen, err), hint.CodeUsage)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("--listen %s without --tls-cert: officials' tokens would cross the network in clear", listen),
				"issue a certificate with 'embassy pki issue --role site --name operate --host HOST' and pass --tls-cert/--tls-key, or listen on 127.0.0.1 behind a TLS proxy"), hint.CodeUsage)
		}
		if o.clientCA != "" || o.crl != "" {
			return nil, usagef("--client-ca and --crl need --tls-cert and --tls-key")
		}
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("--tls-cert/--tls-key: %w", err), hint.CodeUsage)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}, CurvePreferences: pki.CurvePreferences}
	if o.clientCA != "" {
		ca, err := pki.LoadCert(o.clientCA)
		if err != nil {
			return nil, hint.WithCode(fmt.Errorf("--client-ca: %w", err), hint.CodeUsage)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, pool
		if o.crl != "" {
			if o.rev, err = pki.OpenRevocations(o.crl, ca); err != nil {
				return nil, hint.WithCode(hint.Wrap(fmt.Errorf("--crl: %w", err), "pass the home's pki/crl.pem ('embassy pki revoke' writes it)"), hint.CodeUsage)
			}
		}
		pc := pki.PeerCheck{Roles: []pki.Role{pki.RoleHome, pki.RoleOperator, pki.RoleAuditor}, Revoked: o.rev}
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := pc.Check(cs)
			return err
		}
	} else if o.crl != "" {
		return nil, usagef("--crl needs --client-ca (client certificates to check)")
	}
	return tc, nil
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
			e.printf("revoked %d tokens; revocation list %d signed: %s\n", len(args), l.Number, firstNonEmpty(out, vault.OperateRevokedFile(v.Home)))
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
