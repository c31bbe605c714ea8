package vault

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Revocation is what 'embassy pki revoke' did at home: the certificates
// it revoked, the CRL the home CA signed and logged, and that CRL's bytes
// (PEM) for PushCRL.
type Revocation struct {
	Revoked []string // each certificate as "IDENTITY (serial HEX)", in the order given
	Number  string   // the new CRL's number
	InAll   int      // the certificates the CRL revokes, these and earlier ones
	CRL     []byte   // pki/crl.pem as written
}

// RevokeCertificates revokes the certificates in files (PEM, issued by
// the home CA): the CA signs the next CRL (pki/crl.pem) and the
// revocation is recorded in the log (a pki.revoke entry with the
// serials, the CRL's number and how many it revokes in all). A file that
// does not hold a certificate is a usage error.
func (v *Vault) RevokeCertificates(ctx context.Context, files []string) (*Revocation, error) {
	dir := filepath.Join(v.Home.Dir, "pki")
	ca, err := pki.Load(dir)
	if err != nil {
		return nil, hint.Wrap(err, "revocation needs the home's CA ('embassy pki init')")
	}
	rev := &Revocation{}
	var certs []*x509.Certificate
	var serials []string
	for _, f := range files {
		c, err := pki.LoadCert(f)
		if err != nil {
			return nil, hint.WithCode(err, hint.CodeUsage)
		}
		certs = append(certs, c)
		id, _ := pki.Identify(c)
		serial := c.SerialNumber.Text(16)
		serials = append(serials, serial)
		rev.Revoked = append(rev.Revoked, fmt.Sprintf("%s (serial %s)", id, serial))
	}
	crl, p, err := ca.Revoke(dir, certs...)
	if err != nil {
		return nil, err
	}
	rev.Number, rev.InAll, rev.CRL = crl.Number.String(), len(crl.RevokedCertificateEntries), p
	if err := v.Recorder().Append(ctx, tlog.Entry{Kind: tlog.KindPKIRevoke, Object: rev.Number, Details: map[string]string{
		"serials": strings.Join(serials, ","), "crl_number": rev.Number, "revoked": fmt.Sprint(rev.InAll)}}); err != nil {
		return nil, err
	}
	return rev, nil
}

// CRLPush is one daemon site's answer to PushCRL.
type CRLPush struct {
	Site string
	Err  error // nil: the site installed the CRL
}

// PushCRL installs the revocation's CRL at every daemon site (PUT
// /v1/crl), which from then on refuses the revoked certificates. It
// returns each daemon site's result, in configuration order, and an
// error (exit 3, with the way out) if some site still holds an older
// list.
func (v *Vault) PushCRL(ctx context.Context, rev *Revocation) ([]CRLPush, error) {
	var out []CRLPush
	failed := 0
	for _, sc := range v.Home.Config.Sites {
		if !IsDaemonSite(sc) {
			continue
		}
		s := v.OpenSite(ctx, sc)
		err := s.Err()
		if err == nil {
			if rb := DaemonOf(s.Backend); rb != nil {
				err = rb.PutCRL(ctx, rev.CRL)
			}
			_ = s.Backend.Close()
		}
		if err != nil {
			failed++
		}
		out = append(out, CRLPush{Site: sc.Name, Err: err})
	}
	if failed > 0 {
		held := fmt.Sprintf("%d daemon sites still hold", failed)
		if failed == 1 {
			held = "1 daemon site still holds"
		}
		return out, hint.WithCode(hint.Wrap(errors.New(held+" an older CRL"), "run 'embassy pki revoke' again when they are reachable"), hint.CodeDamaged)
	}
	return out, nil
}
