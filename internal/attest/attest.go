// Package attest verifies hardware attestation evidence offline: TPM 2.0
// quotes, AMD SEV-SNP reports, Intel TDX quotes, NVIDIA Hopper GPU reports,
// Azure confidential-VM (vTPM + HCL) evidence, and composites of these.
//
// Verification is pure: no network, no clock other than Options.Now. Every
// refusal wraps ErrRefused and names the reason. The claims a verifier emits
// are described in docs/ATTESTATION.md.
package attest

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// TEE names an evidence type. The names follow Confidential Containers' KBS.
type TEE string

// Evidence types understood by Verify.
const (
	TPM       TEE = "tpm"
	SNP       TEE = "snp"
	TDX       TEE = "tdx"
	NVIDIA    TEE = "nvidia"
	AzSNPvTPM TEE = "az-snp-vtpm"
	AzTDXvTPM TEE = "az-tdx-vtpm"
	Composite TEE = "composite" // Parts only: a CPU TEE plus its GPUs
)

// TEEs lists the evidence types in a stable order (for usage messages).
var TEEs = []TEE{TPM, SNP, TDX, NVIDIA, AzSNPvTPM, AzTDXvTPM}

// Evidence is one piece of attestation evidence as the attester sent it.
// Every byte is attacker-controlled until verified.
type Evidence struct {
	TEE   TEE
	Raw   []byte     // the report, quote or evidence document
	Certs []byte     // optional: certificate chain or collateral (PEM or DER)
	Parts []Evidence // composite evidence: every part must pass
}

// Claims is what verified evidence asserts. Measurements values are
// lowercase hex. ReportData is the data the TEE bound into its signed
// report (64 bytes for SNP and TDX, the nonce for TPM and NVIDIA).
type Claims struct {
	TEE          TEE               `json:"tee"`
	Measurements map[string]string `json:"measurements,omitempty"`
	ReportData   []byte            `json:"report_data,omitempty"`
	Debug        bool              `json:"debug"`
	TCB          map[string]string `json:"tcb,omitempty"`
	Platform     map[string]string `json:"platform,omitempty"`
	Parts        []Claims          `json:"parts,omitempty"`
}

// Verifier verifies one evidence type. Implementations are pure: no network.
type Verifier interface {
	Verify(ev Evidence, opts Options) (Claims, error)
}

// Options carries what a verification needs besides the evidence.
type Options struct {
	// Nonce, when set, must equal what the TEE bound: the first len(Nonce)
	// bytes of the report data (SNP, TDX, Azure runtime data), the TPM
	// quote's extraData, or the NVIDIA request nonce. Where the TEE's field
	// is shorter than Nonce (NVIDIA: 32 bytes) the field must equal the
	// prefix of Nonce. Callers that bind a hash of nonce and key pass that
	// hash here. Composite evidence checks it against every part.
	Nonce []byte
	// Now is the time certificates are checked at; zero means time.Now().
	Now time.Time
	// Roots are the trust anchors; nil means DefaultRoots().
	Roots *Roots
	// Cache supplies certificates and collateral that the evidence does not
	// carry (AMD VCEKs, Intel PCS collateral), offline.
	Cache CertCache
}

// ErrRefused is wrapped by every refusal; the message names the reason.
var ErrRefused = errors.New("attestation refused")

// Refusef returns an error wrapping ErrRefused.
func Refusef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, a...))
}

// refuseWrap returns an error wrapping both ErrRefused and err.
func refuseWrap(err error, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %w", ErrRefused, fmt.Sprintf(format, a...), err)
}

// Roots are the trust anchors for every evidence type, plus a list of
// revoked certificates refused anywhere in a chain: a serial number
// (lowercase hex, no leading zeros) or "sha256:" and the hex SHA-256 of
// the certificate's DER (needed for AMD VCEKs, whose serial is always 0).
type Roots struct {
	NVIDIA  *x509.CertPool // NVIDIA device identity root
	TPM     *x509.CertPool // TPM manufacturer roots for AK certificates (none embedded)
	Intel   *x509.CertPool // Intel SGX/TDX root CA
	Revoked map[string]bool
	// AMD roots are go-sev-guest's embedded ARK/ASK per product; AMDExtra,
	// when set, are PEM ASK/ARK (or ASVK/ARK) bundles tried in addition.
	AMDExtra [][]byte
}

// IsRevoked reports whether any certificate in chain has a revoked serial.
func (r *Roots) IsRevoked(chain []*x509.Certificate) (string, bool) {
	if r == nil || len(r.Revoked) == 0 {
		return "", false
	}
	for _, c := range chain {
		s := strings.ToLower(c.SerialNumber.Text(16))
		if r.Revoked[s] {
			return "serial " + s, true
		}
		if f := "sha256:" + fingerprint(c.Raw); r.Revoked[f] {
			return f, true
		}
	}
	return "", false
}

// Revoke adds serial numbers (hex) to the revoked list.
func (r *Roots) Revoke(serials ...string) {
	if r.Revoked == nil {
		r.Revoked = map[string]bool{}
	}
	for _, s := range serials {
		if strings.HasPrefix(s, "sha256:") {
			r.Revoked[strings.ToLower(s)] = true
			continue
		}
		s = strings.TrimLeft(strings.ToLower(strings.ReplaceAll(s, ":", "")), "0")
		if s == "" {
			s = "0"
		}
		r.Revoked[s] = true
	}
}

// CertCache is an offline store of certificates and collateral keyed by
// the URL they would be fetched from (AMD KDS, Intel PCS). Entries are
// still verified against Roots: the cache is not trusted.
type CertCache interface {
	Get(key string) ([]byte, bool)
}

// MapCache is an in-memory CertCache.
type MapCache map[string][]byte

// Get implements CertCache.
func (m MapCache) Get(key string) ([]byte, bool) { b, ok := m[key]; return b, ok }

// VerifierFunc adapts a function to the Verifier interface.
type VerifierFunc func(ev Evidence, opts Options) (Claims, error)

// Verify implements Verifier.
func (f VerifierFunc) Verify(ev Evidence, opts Options) (Claims, error) { return f(ev, opts) }

// For returns the verifier for tee, or nil.
func For(tee TEE) Verifier { return registry[tee] }

// Verify dispatches ev to the verifier registered for ev.TEE. Composite
// evidence (TEE "composite", or any evidence with Parts) requires every
// part to pass; its claims carry one Claims per part, in order.
func Verify(ev Evidence, opts Options) (Claims, error) {
	if ev.TEE == Composite || len(ev.Parts) > 0 {
		return verifyComposite(ev, opts)
	}
	v, ok := registry[ev.TEE]
	if !ok {
		return Claims{}, Refusef("no verifier for TEE type %q (known: %s)", ev.TEE, knownTEEs())
	}
	c, err := verifySafely(v, ev, opts)
	if err != nil {
		if !errors.Is(err, ErrRefused) {
			err = refuseWrap(err, "%s", ev.TEE)
		}
		return Claims{}, err
	}
	c.TEE = ev.TEE
	return c, nil
}

// verifySafely runs v, turning a panic in a parser (the vendor libraries
// index into attacker-supplied bytes; go-tdx-guest's quote parser was found
// to panic on fuzzed quotes) into a refusal.
func verifySafely(v Verifier, ev Evidence, opts Options) (c Claims, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = Claims{}, Refusef("%s: malformed evidence: the parser failed: %v", ev.TEE, r)
		}
	}()
	return v.Verify(ev, opts)
}

func verifyComposite(ev Evidence, opts Options) (Claims, error) {
	if len(ev.Parts) == 0 {
		return Claims{}, Refusef("composite evidence has no parts")
	}
	if len(ev.Raw) > 0 && ev.TEE != Composite {
		// The top-level evidence is itself the first part.
		parts := append([]Evidence{{TEE: ev.TEE, Raw: ev.Raw, Certs: ev.Certs}}, ev.Parts...)
		ev = Evidence{TEE: Composite, Parts: parts}
	}
	out := Claims{TEE: Composite}
	for i, p := range ev.Parts {
		if p.TEE == Composite || len(p.Parts) > 0 {
			return Claims{}, Refusef("composite part %d is itself composite", i)
		}
		c, err := Verify(p, opts)
		if err != nil {
			return Claims{}, fmt.Errorf("composite part %d (%s): %w", i, p.TEE, err)
		}
		out.Parts = append(out.Parts, c)
	}
	return out, nil
}

func sortStrings(s []string) { sort.Strings(s) }

func knownTEEs() string {
	var s []string
	for t := range registry {
		s = append(s, string(t))
	}
	sortStrings(s)
	return strings.Join(s, ", ")
}

// DefaultRoots returns the embedded trust anchors (see roots.go).
func DefaultRoots() *Roots { return defaultRoots() }
