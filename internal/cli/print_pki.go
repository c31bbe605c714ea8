package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/vault"
)

func (e *env) printPKIInit(r *vault.PKIInitResult) error {
	if e.json {
		return e.emitJSON(map[string]any{"dir": r.Dir, "home": r.CA.Home, "ca_expires": r.CA.Cert.NotAfter, "home_cert_expires": r.HomeCert.NotAfter})
	}
	e.printf("created CA for home %s in %s (valid until %s)\n", r.CA.Home, r.Dir, r.CA.Cert.NotAfter.Format(time.DateOnly))
	e.printf("issued home client certificate %s (valid until %s)\n", filepath.Join(r.Dir, "home.crt"), r.HomeCert.NotAfter.Format(time.DateOnly))
	return nil
}

func (e *env) printIssued(is *vault.IssuedCert, r vault.CertRequest) error {
	if e.json {
		return e.emitJSON(certJSON(vault.ViewCert(is.CertFile, is.Cert, e.now())))
	}
	e.printf("issued %s certificate %s for %s (valid until %s)\n", is.Role, is.CertFile, r.Name, is.Cert.NotAfter.Format(time.RFC3339))
	if is.TPMKey != "" {
		e.printf("the key is held by the TPM %s; %s names it (no private key file)\n", r.TPMDevice, is.TPMKey)
	}
	return nil
}

// certJSON is a certificate's JSON form (pki issue --json, pki show --json).
func certJSON(v vault.CertView) map[string]any {
	cert := v.Cert
	out := map[string]any{"file": v.File, "subject": cert.Subject.String(), "issuer": cert.Issuer.String(),
		"not_before": cert.NotBefore, "not_after": cert.NotAfter, "serial": cert.SerialNumber.Text(16), "is_ca": cert.IsCA,
		"hardware_bound": v.Hardware}
	if v.IDErr == nil {
		out["home"], out["role"], out["name"] = v.ID.Home, string(v.ID.Role), v.ID.Name
	}
	if len(v.Hosts) > 0 {
		out["hosts"] = v.Hosts
	}
	return out
}

func (e *env) printCertView(v vault.CertView) error {
	if e.json {
		return e.emitJSON(certJSON(v))
	}
	cert := v.Cert
	var b strings.Builder
	fmt.Fprintf(&b, "file:       %s\n", v.File)
	if cert.IsCA {
		fmt.Fprintf(&b, "kind:       home CA (%s)\n", cert.Subject.CommonName)
	} else if v.IDErr == nil {
		fmt.Fprintf(&b, "identity:   %s\nrole:       %s\nname:       %s\nhome:       %s\n", v.ID, v.ID.Role, v.ID.Name, v.ID.Home)
	} else {
		fmt.Fprintf(&b, "identity:   none (%v)\n", v.IDErr)
	}
	if len(v.Hosts) > 0 {
		fmt.Fprintf(&b, "hosts:      %s\n", strings.Join(v.Hosts, ", "))
	}
	if v.Hardware {
		fmt.Fprintf(&b, "key:        hardware-bound (made in a TPM)\n")
	}
	fmt.Fprintf(&b, "valid:      %s to %s (%s)\nserial:     %s\n", cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339), v.State, cert.SerialNumber.Text(16))
	e.printf("%s", b.String())
	return nil
}
