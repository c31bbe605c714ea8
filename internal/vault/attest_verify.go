package vault

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/hint"
)

// AttestRequest is one offline verification of attestation evidence
// ('embassy attest verify'): the files to read and the checks to apply.
type AttestRequest struct {
	TEE, Evidence, Certs string   // Evidence "-" reads Stdin
	With                 []string // composite parts, TEE=FILE[,CERTS]
	Nonce                string   // hex the evidence must bind
	Cache                string   // offline VCEK / collateral directory
	Reference            string   // JSON file of reference measurements
	Revoke               []string // certificate serials or sha256:fingerprints
	At                   string   // RFC 3339 time certificates are checked at
	Now                  time.Time
	Stdin                io.Reader
}

// AttestTEEs lists the evidence types attest verify knows, for help text.
func AttestTEEs() string {
	var s []string
	for _, t := range attest.TEEs {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func attestUsage(format string, a ...any) error {
	return hint.WithCode(fmt.Errorf(format, a...), hint.CodeUsage)
}

// VerifyAttestation reads the evidence of r, verifies it the way the key
// broker does and returns its claims. Bad requests are usage errors; a
// refusal carries hint.CodeDamaged and says nothing would be released.
func VerifyAttestation(r AttestRequest) (attest.Claims, error) {
	ev, err := attestEvidence(r.Stdin, r.TEE, r.Evidence, r.Certs)
	if err != nil {
		return attest.Claims{}, err
	}
	for _, w := range r.With {
		p, err := attestPart(r.Stdin, w)
		if err != nil {
			return attest.Claims{}, err
		}
		ev.Parts = append(ev.Parts, p)
	}
	opts, ref, err := r.options()
	if err != nil {
		return attest.Claims{}, err
	}
	claims, err := attest.Verify(ev, opts)
	if err == nil && ref != nil {
		err = attest.Compare(claims, ref)
	}
	if err != nil {
		return attest.Claims{}, hint.WithCode(hint.Wrap(err, "nothing would be released for this evidence; collect fresh evidence, or check --certs, --cache and --nonce"), hint.CodeDamaged)
	}
	return claims, nil
}

func (r AttestRequest) options() (attest.Options, map[string]string, error) {
	opts := attest.Options{Now: r.Now}
	var err error
	if r.Nonce != "" {
		if opts.Nonce, err = hex.DecodeString(strings.TrimPrefix(r.Nonce, "0x")); err != nil || len(opts.Nonce) == 0 {
			return opts, nil, attestUsage("--nonce %q is not hex", r.Nonce)
		}
	}
	if r.At != "" {
		if opts.Now, err = time.Parse(time.RFC3339, r.At); err != nil {
			return opts, nil, attestUsage("--at %q: use an RFC 3339 time such as 2025-06-01T00:00:00Z", r.At)
		}
	}
	if r.Cache != "" {
		if st, err := os.Stat(r.Cache); err != nil || !st.IsDir() {
			return opts, nil, attestUsage("--cache %q is not a directory", r.Cache)
		}
		opts.Cache = attest.DirCache(r.Cache)
	}
	if len(r.Revoke) > 0 {
		opts.Roots = attest.DefaultRoots()
		opts.Roots.Revoke(r.Revoke...)
	}
	if r.Reference == "" {
		return opts, nil, nil
	}
	b, err := os.ReadFile(r.Reference)
	if err != nil {
		return opts, nil, err
	}
	var ref map[string]string
	if err := json.Unmarshal(b, &ref); err != nil {
		return opts, nil, hint.Wrap(fmt.Errorf("--reference %s: %w", r.Reference, err), `write a JSON object such as {"pcr7": "<hex>"}`)
	}
	return opts, ref, nil
}

func attestKnownTEE(t string) bool {
	for _, k := range attest.TEEs {
		if string(k) == t {
			return true
		}
	}
	return false
}

func attestEvidence(stdin io.Reader, tee, file, certs string) (attest.Evidence, error) {
	if tee == "" || file == "" {
		return attest.Evidence{}, hint.WithCode(errors.New("give --tee and --evidence"), hint.CodeUsage)
	}
	if !attestKnownTEE(tee) {
		return attest.Evidence{}, attestUsage("--tee %q: use one of %s", tee, AttestTEEs())
	}
	ev := attest.Evidence{TEE: attest.TEE(tee)}
	var err error
	if file == "-" {
		ev.Raw, err = io.ReadAll(io.LimitReader(stdin, 16<<20))
	} else {
		ev.Raw, err = os.ReadFile(file)
	}
	if err != nil {
		return ev, hint.Wrap(fmt.Errorf("read evidence: %w", err), "check the --evidence path")
	}
	if certs != "" {
		if ev.Certs, err = os.ReadFile(certs); err != nil {
			return ev, hint.Wrap(fmt.Errorf("read certificates: %w", err), "check the --certs path")
		}
	}
	return ev, nil
}

func attestPart(stdin io.Reader, spec string) (attest.Evidence, error) {
	tee, rest, ok := strings.Cut(spec, "=")
	if !ok || rest == "" {
		return attest.Evidence{}, attestUsage("--with %q: use TEE=FILE[,CERTS]", spec)
	}
	file, certs, _ := strings.Cut(rest, ",")
	if file == "-" {
		return attest.Evidence{}, attestUsage("--with %q: a part cannot be read from stdin", spec)
	}
	return attestEvidence(stdin, tee, file, certs)
}
