// Package pki is the home's small certificate authority for the links to
// embassy daemons. The CA lives in the home (<home>/pki/ca.key, mode 0600,
// and ca.crt) and issues short-lived ECDSA P-256 certificates that carry a
// role in a URI SAN, spiffe://<home-id>/role/<role>/<name>:
//
//	home      the sending state: reads and writes objects
//	auditor   read-only: list, stat, get, prove
//	operator  the host's operator: health, metrics, access events; no objects
//	site      a daemon's server certificate
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Role is what a certificate's holder may do.
type Role string

const (
	RoleHome     Role = "home"
	RoleAuditor  Role = "auditor"
	RoleOperator Role = "operator"
	RoleSite     Role = "site"
)

// Roles lists every role.
var Roles = []Role{RoleHome, RoleAuditor, RoleOperator, RoleSite}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q: use home, auditor, operator or site", s)
}

// Lifetimes.
const (
	CALifetime      = 5 * 365 * 24 * time.Hour
	DefaultLifetime = 30 * 24 * time.Hour
	MaxLifetime     = 90 * 24 * time.Hour
	clockSkew       = 5 * time.Minute
)

// File names inside a pki directory.
const (
	CAKeyFile  = "ca.key"
	CACertFile = "ca.crt"
)

// Identity is what a certificate says about its holder.
type Identity struct {
	Home string // home id
	Role Role
	Name string
}

// URI returns the identity's SAN.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: "spiffe", Host: id.Home, Path: "/role/" + string(id.Role) + "/" + id.Name}
}

func (id Identity) String() string { return id.URI().String() }

// ValidName checks a certificate name: 1-64 of [a-z0-9.-].
func ValidName(n string) error {
	if n == "" || len(n) > 64 {
		return fmt.Errorf("name %q: want 1 to 64 characters", n)
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("name %q: character %q not allowed (use a-z, 0-9, '.', '-')", n, c)
		}
	}
	return nil
}

// Identify reads the identity of a certificate issued by a home CA. It does
// not verify the chain: TLS does that.
func Identify(cert *x509.Certificate) (Identity, error) {
	for _, u := range cert.URIs {
		if u.Scheme != "spiffe" {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) != 3 || parts[0] != "role" {
			continue
		}
		r, err := ParseRole(parts[1])
		if err != nil {
			return Identity{}, err
		}
		if err := ValidName(parts[2]); err != nil {
			return Identity{}, err
		}
		return Identity{Home: u.Host, Role: r, Name: parts[2]}, nil
	}
	return Identity{}, errors.New("certificate carries no embassy role")
}

// CA is a loaded certificate authority.
type CA struct {
	Cert *x509.Certificate
	Home string // home id, from the CA's URI SAN
	key  *ecdsa.PrivateKey
	Now  func() time.Time // default time.Now
}

func (ca *CA) now() time.Time {
	if ca.Now != nil {
		return ca.Now()
	}
	return time.Now()
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// Init creates a CA for home in dir; it refuses to replace an existing one.
func Init(dir, homeID string, now time.Time) (*CA, error) {
	if homeID == "" || strings.ContainsAny(homeID, "/:@ ") {
		return nil, fmt.Errorf("home id %q is not usable in a certificate", homeID)
	}
	if _, err := os.Stat(filepath.Join(dir, CAKeyFile)); err == nil {
		return nil, fmt.Errorf("a CA already exists in %s", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "embassy home CA " + homeID, Organization: []string{"Digital Embassy"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: homeID}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeNew(filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(filepath.Join(dir, CACertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return Load(dir)
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Load reads the CA in dir.
func Load(dir string) (*CA, error) {
	cert, err := LoadCert(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	kp, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(kp)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM key", filepath.Join(dir, CAKeyFile))
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CAKeyFile), err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("CA key does not match ca.crt")
	}
	if len(cert.URIs) != 1 || cert.URIs[0].Scheme != "spiffe" {
		return nil, errors.New("ca.crt is not an embassy home CA")
	}
	return &CA{Cert: cert, Home: cert.URIs[0].Host, key: key}, nil
}

// LoadCert reads the first certificate of a PEM file.
func LoadCert(path string) (*x509.Certificate, error) {
	p, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(p)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return x509.ParseCertificate(b.Bytes)
}

// Request describes a certificate to issue.
type Request struct {
	Role     Role
	Name     string
	Hosts    []string      // DNS names or IP addresses (site certificates)
	Lifetime time.Duration // 0: DefaultLifetime; at most MaxLifetime
	// Key, if set, is the holder's key made elsewhere (a TPMKey): no key
	// is generated and Issued.KeyPEM is empty. Hardware marks the
	// certificate hardware-bound (HardwarePolicy); set it only for a key the
	// caller made inside a TPM itself.
	Key      crypto.Signer
	Hardware bool
}

// Issued is a new certificate and its key, PEM-encoded.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte      // empty for a key made elsewhere
	TPM     *TPMKeyFile // set by the caller for a TPM key: Save writes it
}

// Issue signs a new certificate.
func (ca *CA) Issue(req Request) (*Issued, error) {
	if _, err := ParseRole(string(req.Role)); err != nil {
		return nil, err
	}
	if err := ValidName(req.Name); err != nil {
		return nil, err
	}
	if req.Lifetime == 0 {
		req.Lifetime = DefaultLifetime
	}
	if req.Lifetime < 0 || req.Lifetime > MaxLifetime {
		return nil, fmt.Errorf("lifetime %v outside 0..%v", req.Lifetime, MaxLifetime)
	}
	now := ca.now()
	notAfter := now.Add(req.Lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	var pub crypto.PublicKey
	var key *ecdsa.PrivateKey
	if req.Key != nil {
		pub = req.Key.Public()
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		key, pub = k, &k.PublicKey
	}
	if req.Hardware && req.Key == nil {
		return nil, errors.New("a hardware-bound certificate needs the hardware key")
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	id := Identity{Home: ca.Home, Role: req.Role, Name: req.Name}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: req.Name, OrganizationalUnit: []string{string(req.Role)}, Organization: []string{"Digital Embassy " + ca.Home}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.URI()},
	}
	if req.Role == RoleSite {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range req.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	} else if len(req.Hosts) > 0 {
		return nil, errors.New("hosts are only for site certificates")
	}
	if req.Hardware {
		tmpl.Policies = []x509.OID{HardwarePolicy}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	is := &Issued{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	if key != nil {
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		is.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	}
	return is, nil
}

// Save writes <dir>/<name>.crt, <dir>/<name>.key (0600) and a copy of the
// CA certificate, refusing to replace existing files. A certificate of a
// TPM key gets <dir>/<name>.tpmkey (the key's reference) instead of a key.
func (is *Issued) Save(dir, name string, caCert *x509.Certificate) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if is.TPM != nil {
		b, err := json.MarshalIndent(is.TPM, "", "  ")
		if err != nil {
			return err
		}
		if err := writeNew(filepath.Join(dir, name+".tpmkey"), append(b, '\n'), 0o600); err != nil {
			return err
		}
	} else if err := writeNew(filepath.Join(dir, name+".key"), is.KeyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(dir, name+".crt"), is.CertPEM, 0o644); err != nil {
		return err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	if old, err := os.ReadFile(filepath.Join(dir, CACertFile)); err == nil {
		if string(old) != string(caPEM) {
			return fmt.Errorf("%s holds another CA certificate", filepath.Join(dir, CACertFile))
		}
		return nil
	}
	return writeNew(filepath.Join(dir, CACertFile), caPEM, 0o644)
}

// Files names the three files of one identity.
type Files struct{ CA, Cert, Key string }

// TLSMaterial loads a certificate pair and a CA pool. A key file that is
// a TPM key reference (.tpmkey) loads the key in its TPM: the pair's
// PrivateKey is then a *TPMKey, which signs inside the TPM.
func TLSMaterial(f Files) (tls.Certificate, *x509.CertPool, error) {
	load := tls.LoadX509KeyPair
	if IsTPMKeyFile(f.Key) {
		load = tpmPair
	}
	pair, err := load(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("load certificate: %w", err)
	}
	ca, err := LoadCert(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("load CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pair, pool, nil
}

// CurvePreferences puts the hybrid post-quantum group first (clients of
// other services that may have to talk to classical peers).
var CurvePreferences = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}

// PQCurves is the only key exchange the daemon, the witness and operate
// links accept: hybrid X25519MLKEM768. A peer offering only classical
// groups fails the handshake.
var PQCurves = []tls.CurveID{tls.X25519MLKEM768}
