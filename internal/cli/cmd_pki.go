package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
)

func pkiDir(h *home.Home) string { return filepath.Join(h.Dir, "pki") }

func cmdPKI(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "pki",
		Short: "The home's certificate authority for links to embassy daemons",
		Long: `The home keeps a small certificate authority (<home>/pki/ca.key, mode 0600,
and ca.crt). It issues short-lived certificates whose role is written in a
URI SAN, spiffe://<home-id>/role/<role>/<name>:

  home      the sending state: reads and writes objects
  auditor   read-only: list, stat, get and prove
  operator  a host's operator: health, metrics and access events, no objects
  site      a daemon's server certificate (give --host)`,
	}
	c.AddCommand(cmdPKIInit(e), cmdPKIIssue(e), cmdPKIShow(e), cmdPKIRevoke(e))
	return c
}

func cmdPKIInit(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the home's CA and a home client certificate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if h.Config.Home == "" {
				return hint.Wrap(errors.New("the home has no id yet"), "run 'embassy init' first")
			}
			dir := pkiDir(h)
			ca, err := pki.Init(dir, h.Config.Home, time.Now())
			if err != nil {
				return err
			}
			is, err := ca.Issue(pki.Request{Role: pki.RoleHome, Name: "home"})
			if err != nil {
				return err
			}
			if err := is.Save(dir, "home", ca.Cert); err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"dir": dir, "home": ca.Home, "ca_expires": ca.Cert.NotAfter, "home_cert_expires": is.Cert.NotAfter})
			}
			e.printf("created CA for home %s in %s (valid until %s)\n", ca.Home, dir, ca.Cert.NotAfter.Format(time.DateOnly))
			e.printf("issued home client certificate %s (valid until %s)\n", filepath.Join(dir, "home.crt"), is.Cert.NotAfter.Format(time.DateOnly))
			return nil
		},
	}
}

func cmdPKIIssue(e *env) *cobra.Command {
	var role, name, out, tpm string
	var useTPM bool
	var hosts []string
	var lifetime time.Duration
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
			r, err := pki.ParseRole(role)
			if err != nil {
				return usagef("--role: %v", err)
			}
			if out == "" {
				return usagef("--output DIR is required")
			}
			if r == pki.RoleSite && len(hosts) == 0 {
				return usagef("a site certificate needs --host (the daemon's DNS name or IP)")
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			ca, err := pki.Load(pkiDir(h))
			if err != nil {
				return hint.Wrap(err, "create the CA with 'embassy pki init'")
			}
			req := pki.Request{Role: r, Name: name, Hosts: hosts, Lifetime: lifetime}
			var tk *pki.TPMKey
			if useTPM {
				if tk, err = pki.CreateTPMKey(tpm); err != nil {
					return hint.Wrap(err, "the key must be made in a TPM: check "+tpm+" exists and this user may use it (group tss)")
				}
				defer tk.Close()
				req.Key, req.Hardware = tk, true
			}
			is, err := ca.Issue(req)
			if err != nil {
				return usageError{err}
			}
			if tk != nil {
				is.TPM = &tk.File
			}
			if err := is.Save(out, name, ca.Cert); err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(certJSON(is.Cert, filepath.Join(out, name+".crt")))
			}
			e.printf("issued %s certificate %s for %s (valid until %s)\n", r, filepath.Join(out, name+".crt"), name, is.Cert.NotAfter.Format(time.RFC3339))
			if tk != nil {
				e.printf("the key is held by the TPM %s; %s names it (no private key file)\n", tpm, filepath.Join(out, name+".tpmkey"))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&role, "role", "", "home, auditor, operator or site")
	f.StringVar(&name, "name", "", "name of the holder (a-z, 0-9, '.', '-')")
	f.StringVarP(&out, "output", "o", "", "directory for the certificate and key")
	f.StringSliceVar(&hosts, "host", nil, "DNS name or IP of a site (repeatable)")
	f.DurationVar(&lifetime, "lifetime", pki.DefaultLifetime, fmt.Sprintf("validity (at most %v)", pki.MaxLifetime))
	f.BoolVar(&useTPM, "tpm", false, "make the key inside this machine's TPM (hardware-bound certificate, no key file)")
	f.StringVar(&tpm, "tpm-device", pki.DefaultTPM, "the TPM for --tpm (sim:SEED is the reference simulator, for tests)")
	return c
}

func certJSON(cert *x509Certificate, path string) map[string]any {
	out := map[string]any{"file": path, "subject": cert.Subject.String(), "issuer": cert.Issuer.String(),
		"not_before": cert.NotBefore, "not_after": cert.NotAfter, "serial": cert.SerialNumber.Text(16), "is_ca": cert.IsCA,
		"hardware_bound": pki.HardwareBound(cert)}
	if id, err := pki.Identify(cert); err == nil {
		out["home"], out["role"], out["name"] = id.Home, string(id.Role), id.Name
	}
	var hosts []string
	hosts = append(hosts, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	if len(hosts) > 0 {
		out["hosts"] = hosts
	}
	return out
}

func cmdPKIShow(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Show a certificate's role, holder and validity",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cert, err := pki.LoadCert(args[0])
			if err != nil {
				return err
			}
			info := certJSON(cert, args[0])
			if e.json {
				return e.emitJSON(info)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "file:       %s\n", args[0])
			if cert.IsCA {
				fmt.Fprintf(&b, "kind:       home CA (%s)\n", cert.Subject.CommonName)
			} else if id, err := pki.Identify(cert); err == nil {
				fmt.Fprintf(&b, "identity:   %s\nrole:       %s\nname:       %s\nhome:       %s\n", id, id.Role, id.Name, id.Home)
			} else {
				fmt.Fprintf(&b, "identity:   none (%v)\n", err)
			}
			if hs, ok := info["hosts"].([]string); ok {
				fmt.Fprintf(&b, "hosts:      %s\n", strings.Join(hs, ", "))
			}
			state := "valid"
			if now := time.Now(); now.After(cert.NotAfter) {
				state = "EXPIRED"
			} else if now.Before(cert.NotBefore) {
				state = "not yet valid"
			}
			if pki.HardwareBound(cert) {
				fmt.Fprintf(&b, "key:        hardware-bound (made in a TPM)\n")
			}
			fmt.Fprintf(&b, "valid:      %s to %s (%s)\nserial:     %s\n", cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339), state, cert.SerialNumber.Text(16))
			e.printf("%s", b.String())
			return nil
		},
	}
}
