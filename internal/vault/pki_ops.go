package vault

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
)

// PKIInitResult is what InitPKI made: the home's CA in Dir and the home's
// client certificate beside it (Dir/home.crt).
type PKIInitResult struct {
	Dir      string
	CA       *pki.CA
	HomeCert *x509.Certificate
}

// InitPKI creates the home's certificate authority (<home>/pki) valid from
// now, and issues the home's own client certificate.
func InitPKI(h *home.Home, now time.Time) (*PKIInitResult, error) {
	if h.Config.Home == "" {
		return nil, hint.Wrap(errors.New("the home has no id yet"), "run 'embassy init' first")
	}
	dir := filepath.Join(h.Dir, "pki")
	ca, err := pki.Init(dir, h.Config.Home, now)
	if err != nil {
		return nil, err
	}
	is, err := ca.Issue(pki.Request{Role: pki.RoleHome, Name: "home"})
	if err != nil {
		return nil, err
	}
	if err := is.Save(dir, "home", ca.Cert); err != nil {
		return nil, err
	}
	return &PKIInitResult{Dir: dir, CA: ca, HomeCert: is.Cert}, nil
}

// CertRequest asks the home CA for a certificate written to
// Out/Name.crt (with Out/Name.key, or Out/Name.tpmkey with TPM).
type CertRequest struct {
	Role, Name, Out string
	Hosts           []string
	Lifetime        time.Duration
	TPM             bool   // make the key inside the TPM TPMDevice
	TPMDevice       string // a device path, or sim:SEED (tests)
}

// Check validates the request without the home: a known role, an output
// directory, and hosts for a site certificate.
func (r CertRequest) Check() (pki.Role, error) {
	role, err := pki.ParseRole(r.Role)
	if err != nil {
		return role, hint.WithCode(fmt.Errorf("--role: %v", err), hint.CodeUsage)
	}
	if r.Out == "" {
		return role, hint.WithCode(errors.New("--output DIR is required"), hint.CodeUsage)
	}
	if role == pki.RoleSite && len(r.Hosts) == 0 {
		return role, hint.WithCode(errors.New("a site certificate needs --host (the daemon's DNS name or IP)"), hint.CodeUsage)
	}
	return role, nil
}

// IssuedCert is a certificate IssueCert wrote.
type IssuedCert struct {
	Role     pki.Role
	Cert     *x509.Certificate
	CertFile string
	TPMKey   string // the .tpmkey file naming a TPM-held key; "" for a key file
}

// IssueCert issues a certificate of the home's CA for r and saves it with
// the CA certificate in r.Out. A TPM-held key is made in the TPM and the
// certificate issued under the hardware-key policy.
func IssueCert(h *home.Home, r CertRequest) (*IssuedCert, error) {
	role, err := r.Check()
	if err != nil {
		return nil, err
	}
	ca, err := pki.Load(filepath.Join(h.Dir, "pki"))
	if err != nil {
		return nil, hint.Wrap(err, "create the CA with 'embassy pki init'")
	}
	req := pki.Request{Role: role, Name: r.Name, Hosts: r.Hosts, Lifetime: r.Lifetime}
	var tk *pki.TPMKey
	if r.TPM {
		if tk, err = pki.CreateTPMKey(r.TPMDevice); err != nil {
			return nil, hint.Wrap(err, "the key must be made in a TPM: check "+r.TPMDevice+" exists and this user may use it (group tss)")
		}
		defer tk.Close()
		req.Key, req.Hardware = tk, true
	}
	is, err := ca.Issue(req)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	if tk != nil {
		is.TPM = &tk.File
	}
	if err := is.Save(r.Out, r.Name, ca.Cert); err != nil {
		return nil, err
	}
	out := &IssuedCert{Role: role, Cert: is.Cert, CertFile: filepath.Join(r.Out, r.Name+".crt")}
	if tk != nil {
		out.TPMKey = filepath.Join(r.Out, r.Name+".tpmkey")
	}
	return out, nil
}

// CertView is what a certificate says about its holder, for 'pki show'.
type CertView struct {
	File     string
	Cert     *x509.Certificate
	ID       pki.Identity
	IDErr    error    // why the certificate names no identity
	Hosts    []string // DNS names, then IP addresses
	Hardware bool     // issued under the hardware-key policy
	State    string   // at the time asked: valid, EXPIRED or not yet valid
}

// ViewCert describes cert (read from file) as of now.
func ViewCert(file string, cert *x509.Certificate, now time.Time) CertView {
	v := CertView{File: file, Cert: cert, Hardware: pki.HardwareBound(cert), State: "valid"}
	v.ID, v.IDErr = pki.Identify(cert)
	v.Hosts = append(v.Hosts, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		v.Hosts = append(v.Hosts, ip.String())
	}
	if now.After(cert.NotAfter) {
		v.State = "EXPIRED"
	} else if now.Before(cert.NotBefore) {
		v.State = "not yet valid"
	}
	return v
}

// LoadCertView reads a certificate file and describes it as of now.
func LoadCertView(file string, now time.Time) (CertView, error) {
	cert, err := pki.LoadCert(file)
	if err != nil {
		return CertView{}, err
	}
	return ViewCert(file, cert, now), nil
}
