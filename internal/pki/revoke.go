package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// CRLFile is the home CA's certificate revocation list inside its pki
// directory: an X.509 CRL (PEM) signed by the CA, its number increasing
// with every revocation. Daemons and witnesses check every connection's
// client certificate against the newest CRL they hold.
const CRLFile = "crl.pem"

// CRLLifetime is the NextUpdate the CA writes. A daemon keeps using a CRL
// past it (failing closed would lock the home out) and warns.
const CRLLifetime = 30 * 24 * time.Hour

// MaxCRL bounds an encoded CRL.
const MaxCRL = 1 << 20

// ErrRevoked is returned for a certificate on the CRL.
var ErrRevoked = errors.New("certificate revoked")

// ErrNotHardware is returned for a software-key certificate where a role
// requires a hardware-bound one.
var ErrNotHardware = errors.New("certificate not hardware-bound")

// Revoke adds the certificates' serial numbers to the CA's CRL (creating
// it), signs it with the next number and writes <dir>/crl.pem atomically.
// It returns the new CRL.
func (ca *CA) Revoke(dir string, certs ...*x509.Certificate) (*x509.RevocationList, []byte, error) {
	var entries []x509.RevocationListEntry
	number := big.NewInt(0)
	if b, err := os.ReadFile(filepath.Join(dir, CRLFile)); err == nil {
		old, err := ParseCRL(b, ca.Cert)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, CRLFile), err)
		}
		entries, number = old.RevokedCertificateEntries, old.Number
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	now := ca.now().UTC()
	for _, c := range certs {
		if err := c.CheckSignatureFrom(ca.Cert); err != nil {
			return nil, nil, fmt.Errorf("certificate %s was not issued by this CA: %w", c.Subject.CommonName, err)
		}
		if slices.ContainsFunc(entries, func(e x509.RevocationListEntry) bool { return e.SerialNumber.Cmp(c.SerialNumber) == 0 }) {
			continue
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: now})
	}
	tmpl := &x509.RevocationList{
		RevokedCertificateEntries: entries,
		Number:                    new(big.Int).Add(number, big.NewInt(1)),
		ThisUpdate:                now.Add(-clockSkew),
		NextUpdate:                now.Add(CRLLifetime),
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.key)
	if err != nil {
		return nil, nil, err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	if err := writeAtomic(filepath.Join(dir, CRLFile), p, 0o644); err != nil {
		return nil, nil, err
	}
	crl, err := x509.ParseRevocationList(der)
	return crl, p, err
}

// ParseCRL decodes a CRL (PEM or DER) and checks that ca signed it.
func ParseCRL(b []byte, ca *x509.Certificate) (*x509.RevocationList, error) {
	if len(b) > MaxCRL {
		return nil, fmt.Errorf("CRL of %d bytes, limit %d", len(b), MaxCRL)
	}
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q, want X509 CRL", blk.Type)
		}
		der = blk.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("CRL: %w", err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("CRL is not signed by the home CA: %w", err)
	}
	if crl.Number == nil {
		return nil, errors.New("CRL has no number")
	}
	return crl, nil
}

// Revocations is the CRL a daemon or witness holds, kept in a file (or in
// memory with path ""). Check stats the file on every call, so a CRL put
// there by hand takes effect on the next connection. Safe for concurrent use.
type Revocations struct {
	path string
	ca   *x509.Certificate

	mu      sync.Mutex
	crl     *x509.RevocationList
	serials map[string]bool
	modTime time.Time
	size    int64
	loadErr error
}

// OpenRevocations loads path (if present) and checks it against ca.
func OpenRevocations(path string, ca *x509.Certificate) (*Revocations, error) {
	r := &Revocations{path: path, ca: ca, serials: map[string]bool{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reloadLocked(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Revocations) reloadLocked() error {
	if r.path == "" {
		return nil
	}
	st, err := os.Stat(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.ModTime().Equal(r.modTime) && st.Size() == r.size {
		return nil
	}
	b, err := os.ReadFile(r.path)
	if err != nil {
		return err
	}
	crl, err := ParseCRL(b, r.ca)
	if err != nil {
		return fmt.Errorf("%s: %w", r.path, err)
	}
	if r.crl != nil && crl.Number.Cmp(r.crl.Number) < 0 {
		return fmt.Errorf("%s: CRL number %v is older than the one held (%v)", r.path, crl.Number, r.crl.Number)
	}
	r.setLocked(crl)
	r.modTime, r.size = st.ModTime(), st.Size()
	return nil
}

func (r *Revocations) setLocked(crl *x509.RevocationList) {
	r.crl = crl
	r.serials = make(map[string]bool, len(crl.RevokedCertificateEntries))
	for _, e := range crl.RevokedCertificateEntries {
		r.serials[e.SerialNumber.Text(16)] = true
	}
}

// Check returns an error wrapping ErrRevoked if cert is on the CRL. A CRL
// file that became unreadable or was replaced by an older or forged one
// keeps the last good list in force (and reports it through Err).
func (r *Revocations) Check(cert *x509.Certificate) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadErr = r.reloadLocked()
	if r.serials[cert.SerialNumber.Text(16)] {
		return fmt.Errorf("%w: serial %s (CRL %v)", ErrRevoked, cert.SerialNumber.Text(16), r.crl.Number)
	}
	return nil
}

// Err is the last failure to reload the CRL file, if any.
func (r *Revocations) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadErr
}

// Number is the held CRL's number (0 without one).
func (r *Revocations) Number() *big.Int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.crl == nil {
		return big.NewInt(0)
	}
	return new(big.Int).Set(r.crl.Number)
}

// Stale tells whether the held CRL is past its NextUpdate.
func (r *Revocations) Stale(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.crl != nil && now.After(r.crl.NextUpdate)
}

// Update installs a newer CRL pushed by the home: signed by the CA, with a
// number above the one held (an equal one is accepted as a no-op).
func (r *Revocations) Update(b []byte) (*x509.RevocationList, error) {
	crl, err := ParseCRL(b, r.ca)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.reloadLocked()
	if r.crl != nil {
		switch crl.Number.Cmp(r.crl.Number) {
		case -1:
			return nil, fmt.Errorf("CRL number %v is older than the one held (%v)", crl.Number, r.crl.Number)
		case 0:
			if !bytes.Equal(crl.Raw, r.crl.Raw) {
				return nil, fmt.Errorf("a different CRL with the held number %v", crl.Number)
			}
			return r.crl, nil
		}
	}
	if r.path != "" {
		p := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw})
		if err := writeAtomic(r.path, p, 0o644); err != nil {
			return nil, err
		}
		if st, err := os.Stat(r.path); err == nil {
			r.modTime, r.size = st.ModTime(), st.Size()
		}
	}
	r.setLocked(crl)
	return crl, nil
}

// PeerCheck verifies a TLS peer beyond its chain: the identity it carries,
// for the expected home, in one of the allowed roles, and not revoked.
type PeerCheck struct {
	Home    string // "" accepts any home of the CA
	Roles   []Role
	Revoked *Revocations // may be nil
	// Hardware lists the roles whose certificates must be hardware-bound
	// (HardwareBound: the key is held by a TPM).
	Hardware []Role
}

// Check returns the peer's identity or why it is refused.
func (p PeerCheck) Check(cs tls.ConnectionState) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, errors.New("no client certificate")
	}
	leaf := cs.PeerCertificates[0]
	id, err := Identify(leaf)
	switch {
	case err != nil:
		return id, err
	case p.Home != "" && id.Home != p.Home:
		return id, fmt.Errorf("certificate of home %q, want %q", id.Home, p.Home)
	case len(p.Roles) > 0 && !slices.Contains(p.Roles, id.Role):
		return id, fmt.Errorf("a certificate of role %s may not connect here", id.Role)
	case slices.Contains(p.Hardware, id.Role) && !HardwareBound(leaf):
		return id, fmt.Errorf("%w: role %s needs a certificate whose key is held by a TPM ('embassy pki issue --tpm')", ErrNotHardware, id.Role)
	}
	if err := p.Revoked.Check(leaf); err != nil {
		return id, err
	}
	return id, nil
}

// ServerTLS is a TLS 1.3 server configuration over mutual TLS with the
// home CA: hybrid post-quantum key exchange only, client certificates
// required, verified and checked by pc (refusals go to onRefuse, if set).
func ServerTLS(cert tls.Certificate, clientCAs *x509.CertPool, pc PeerCheck, onRefuse func(Identity, error)) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        clientCAs,
		CurvePreferences: PQCurves,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := pc.Check(cs)
			if err != nil && onRefuse != nil {
				onRefuse(id, err)
			}
			return err
		},
	}
}

func writeAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".crl*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// ClientTLS is a client configuration for a link to one of the home's
// sites (daemon or witness): mutual TLS with pair, the server chained to
// the CA in pool, hybrid post-quantum key exchange only, and the server
// certificate checked to be a site of home (named expect, if set).
func ClientTLS(pair tls.Certificate, pool *x509.CertPool, home, expect string) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{pair},
		RootCAs:          pool,
		CurvePreferences: PQCurves,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := PeerCheck{Home: home, Roles: []Role{RoleSite}}.Check(cs)
			if err != nil {
				return fmt.Errorf("the server's certificate: %w", err)
			}
			if expect != "" && id.Name != expect {
				return fmt.Errorf("the server's certificate names site %q, want %q", id.Name, expect)
			}
			return nil
		},
	}
}

// RequireUnrevoked wraps h so that every request's client certificate is
// checked against r again: a keep-alive connection opened before a CRL
// arrived does not outlive the revocation. Refused requests get 403 and
// go to onRefuse, if set.
func RequireUnrevoked(r *Revocations, h http.Handler, onRefuse func(*http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
			if err := r.Check(req.TLS.PeerCertificates[0]); err != nil {
				if onRefuse != nil {
					onRefuse(req, err)
				}
				http.Error(w, "certificate revoked", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, req)
	})
}
