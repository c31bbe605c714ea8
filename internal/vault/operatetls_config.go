package vault

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
)

// OperateTLS is the crisis service's transport: its server certificate
// and key, the CA of officials' client certificates (mutual TLS) and that
// CA's revocation list.
type OperateTLS struct {
	Cert, Key, ClientCA, CRL string
}

// Config returns the TLS configuration of the crisis service listening on
// listen, or nil for plain HTTP, which is allowed only on a loopback
// address (behind a local TLS proxy), and the CRL opened with --crl (nil
// without one). Every error is a usage error naming the flag at fault.
func (o OperateTLS) Config(listen string) (*tls.Config, *pki.Revocations, error) {
	usage := func(format string, a ...any) error { return hint.WithCode(fmt.Errorf(format, a...), hint.CodeUsage) }
	if o.Cert == "" && o.Key == "" {
		host, _, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, nil, usage("--listen %s: %w", listen, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, nil, hint.WithCode(hint.Wrap(fmt.Errorf("--listen %s without --tls-cert: officials' tokens would cross the network in clear", listen),
				"issue a certificate with 'embassy pki issue --role site --name operate --host HOST' and pass --tls-cert/--tls-key, or listen on 127.0.0.1 behind a TLS proxy"), hint.CodeUsage)
		}
		if o.ClientCA != "" || o.CRL != "" {
			return nil, nil, usage("--client-ca and --crl need --tls-cert and --tls-key")
		}
		return nil, nil, nil
	}
	pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
	if err != nil {
		return nil, nil, usage("--tls-cert/--tls-key: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}, CurvePreferences: pki.CurvePreferences}
	if o.ClientCA == "" {
		if o.CRL != "" {
			return nil, nil, usage("--crl needs --client-ca (client certificates to check)")
		}
		return tc, nil, nil
	}
	ca, err := pki.LoadCert(o.ClientCA)
	if err != nil {
		return nil, nil, usage("--client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, pool
	var rev *pki.Revocations
	if o.CRL != "" {
		if rev, err = pki.OpenRevocations(o.CRL, ca); err != nil {
			return nil, nil, hint.WithCode(hint.Wrap(fmt.Errorf("--crl: %w", err), "pass the home's pki/crl.pem ('embassy pki revoke' writes it)"), hint.CodeUsage)
		}
	}
	pc := pki.PeerCheck{Roles: []pki.Role{pki.RoleHome, pki.RoleOperator, pki.RoleAuditor}, Revoked: rev}
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := pc.Check(cs)
		return err
	}
	return tc, rev, nil
}
