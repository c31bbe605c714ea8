package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-tpm-tools/client"
	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/legacy/tpm2"
)

// Hardware-held client keys (framework requirement 17: identities bound to
// hardware credentials). 'embassy pki issue --tpm' creates the key inside
// a TPM as a primary key of the owner hierarchy (fixedTPM, fixedParent,
// sensitiveDataOrigin: the private part never leaves the chip) from a
// template with random unique bytes; the key file (NAME.tpmkey) holds only
// that template's unique bytes and the TPM to use, so the same TPM
// re-derives the same key and no other machine can. The CA signs the
// certificate with the HardwarePolicy certificate policy because it made the key in
// the TPM itself; a daemon can then require such certificates for a role.

// HardwarePolicy is the certificate policy (RFC 5280 §4.2.1.4) of
// certificates whose key is held by a TPM: an OID under 2.25 (ITU-T X.667)
// made from the random UUID 7131a619-a4a1-4fb7-8738-4b42ac55b55d.
var HardwarePolicy = mustOID("2.25.150460554981412524345935486516481865053")

func mustOID(s string) x509.OID {
	o, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// TPMKeyFormat is the format of a .tpmkey file.
const TPMKeyFormat = "embassy-tpm-key/1"

// TPMKeyFile is a reference to a key inside a TPM.
type TPMKeyFile struct {
	Format string `json:"format"`
	TPM    string `json:"tpm"`    // device path (/dev/tpmrm0) or sim:SEED (the reference simulator, tests only)
	Unique string `json:"unique"` // hex, the template's unique field
}

// DefaultTPM is the kernel's TPM resource manager.
const DefaultTPM = "/dev/tpmrm0"

// simMu serialises the in-process reference simulator (one per process).
var simMu sync.Mutex

type simCloser struct {
	io.ReadWriteCloser
	once sync.Once
}

func (s *simCloser) Close() error {
	err := s.ReadWriteCloser.Close()
	s.once.Do(simMu.Unlock)
	return err
}

// OpenTPM opens a TPM device or, for "sim:SEED", the reference simulator
// with a fixed seed (a simulator proves nothing about a machine).
func OpenTPM(spec string) (io.ReadWriteCloser, error) {
	if seed, ok := strings.CutPrefix(spec, "sim:"); ok {
		n, err := strconv.ParseInt(seed, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("tpm %q: want sim:SEED with a decimal seed", spec)
		}
		simMu.Lock()
		sim, err := simulator.GetWithFixedSeedInsecure(n)
		if err != nil {
			simMu.Unlock()
			return nil, fmt.Errorf("tpm simulator: %w", err)
		}
		return &simCloser{ReadWriteCloser: sim}, nil
	}
	rw, err := tpm2.OpenTPM(spec)
	if err != nil {
		return nil, fmt.Errorf("open tpm %s: %w", spec, err)
	}
	return rw, nil
}

func tpmTemplate(unique []byte) tpm2.Public {
	return tpm2.Public{
		Type:    tpm2.AlgECC,
		NameAlg: tpm2.AlgSHA256,
		Attributes: tpm2.FlagSign | tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagSensitiveDataOrigin |
			tpm2.FlagUserWithAuth | tpm2.FlagNoDA,
		ECCParameters: &tpm2.ECCParams{
			Sign:    &tpm2.SigScheme{Alg: tpm2.AlgECDSA, Hash: tpm2.AlgSHA256},
			CurveID: tpm2.CurveNISTP256,
			Point:   tpm2.ECPoint{XRaw: unique, YRaw: make([]byte, 32)},
		},
	}
}

// TPMKey is a loaded hardware key: a crypto.Signer whose private part is in
// the TPM. Close releases the key and the TPM.
type TPMKey struct {
	File   TPMKeyFile
	rw     io.ReadWriteCloser
	key    *client.Key
	signer crypto.Signer
}

// Public is the key's public part.
func (k *TPMKey) Public() crypto.PublicKey { return k.signer.Public() }

// Sign signs a SHA-256 digest inside the TPM.
func (k *TPMKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.signer.Sign(r, digest, opts)
}

// Close flushes the key and closes the TPM.
func (k *TPMKey) Close() error {
	k.key.Close()
	return k.rw.Close()
}

// CreateTPMKey makes a new key inside the TPM named by spec.
func CreateTPMKey(spec string) (*TPMKey, error) {
	u := make([]byte, 32)
	if _, err := rand.Read(u); err != nil {
		return nil, err
	}
	return LoadTPMKey(TPMKeyFile{Format: TPMKeyFormat, TPM: spec, Unique: hex.EncodeToString(u)})
}

// LoadTPMKey re-derives the key f names in its TPM.
func LoadTPMKey(f TPMKeyFile) (*TPMKey, error) {
	if f.Format != TPMKeyFormat {
		return nil, fmt.Errorf("tpm key format %q, want %s", f.Format, TPMKeyFormat)
	}
	u, err := hex.DecodeString(f.Unique)
	if err != nil || len(u) != 32 {
		return nil, errors.New("tpm key: unique must be 32 bytes in hex")
	}
	rw, err := OpenTPM(f.TPM)
	if err != nil {
		return nil, err
	}
	key, err := client.NewKey(rw, tpm2.HandleOwner, tpmTemplate(u))
	if err != nil {
		rw.Close()
		return nil, fmt.Errorf("tpm key: %w", err)
	}
	s, err := key.GetSigner()
	if err != nil {
		key.Close()
		rw.Close()
		return nil, fmt.Errorf("tpm key: %w", err)
	}
	return &TPMKey{File: f, rw: rw, key: key, signer: s}, nil
}

// ReadTPMKeyFile reads a .tpmkey file.
func ReadTPMKeyFile(path string) (TPMKeyFile, error) {
	var f TPMKeyFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if len(b) > 4096 {
		return f, fmt.Errorf("%s: not a tpm key file", path)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// IsTPMKeyFile tells whether path holds a TPM key reference rather than a
// PEM private key.
func IsTPMKeyFile(path string) bool {
	if strings.HasSuffix(path, ".tpmkey") {
		return true
	}
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b[:min(len(b), 64)]), TPMKeyFormat)
}

// HardwareBound tells whether cert was issued under HardwarePolicy.
func HardwareBound(cert *x509.Certificate) bool {
	for _, p := range cert.Policies {
		if p.Equal(HardwarePolicy) {
			return true
		}
	}
	return false
}

// tpmPair loads a certificate whose key is a .tpmkey reference.
func tpmPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := LoadCert(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	f, err := ReadTPMKeyFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	k, err := LoadTPMKey(f)
	if err != nil {
		return tls.Certificate{}, err
	}
	if !publicEqual(k.Public(), cert.PublicKey) {
		k.Close()
		return tls.Certificate{}, fmt.Errorf("%s: the TPM key does not match %s (another TPM?)", keyFile, certFile)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: k, Leaf: cert}, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
