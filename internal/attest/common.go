package attest

import (
	"bytes"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

func (o Options) roots() *Roots {
	if o.Roots != nil {
		return o.Roots
	}
	return DefaultRoots()
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// checkNonce checks that field (what the TEE signed) binds nonce: field
// starts with nonce, or, where the TEE's field is shorter than nonce but at
// least 32 bytes, nonce starts with field.
func checkNonce(what string, field, nonce []byte) error {
	if len(nonce) == 0 {
		return nil
	}
	n := min(len(field), len(nonce))
	if n < len(nonce) && n < 32 {
		return Refusef("%s has %d bytes, too short to bind the %d-byte nonce", what, len(field), len(nonce))
	}
	if subtle.ConstantTimeCompare(field[:n], nonce[:n]) != 1 {
		return Refusef("%s %s does not match the expected nonce %s", what, short(field), short(nonce))
	}
	return nil
}

func short(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return s
}

// parseCerts parses a PEM bundle or concatenated DER certificates.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("no certificates")
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		var out []*x509.Certificate
		rest := b
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate %d: %w", len(out), err)
			}
			out = append(out, c)
		}
		if len(out) == 0 {
			return nil, errors.New("no PEM certificates")
		}
		return out, nil
	}
	cs, err := x509.ParseCertificates(b)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, errors.New("no certificates")
	}
	return cs, nil
}

// verifyChain verifies chain[0] (the leaf) through chain[1:] (untrusted
// intermediates; a copy of the root among them is harmless) to roots at
// now, and refuses any chain containing a revoked serial.
func verifyChain(chain []*x509.Certificate, roots *x509.CertPool, r *Roots, now time.Time, eku x509.ExtKeyUsage) error {
	if roots == nil {
		return errors.New("no trust anchor configured")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{eku}})
	if err != nil {
		return fmt.Errorf("chain does not verify to the trust anchor: %w", err)
	}
	for _, ch := range chains {
		if s, bad := r.IsRevoked(ch); bad {
			return fmt.Errorf("certificate %s is revoked", s)
		}
	}
	if s, bad := r.IsRevoked(chain); bad {
		return fmt.Errorf("certificate %s is revoked", s)
	}
	return nil
}

// Compare checks claims against reference measurements (name -> hex,
// case-insensitive) and refuses naming every measurement that differs or
// is missing. Names of composite parts are prefixed "partN.".
func Compare(c Claims, ref map[string]string) error {
	got := Flatten(c)
	var bad []string
	for name, want := range ref {
		have, ok := got[name]
		switch {
		case !ok:
			bad = append(bad, name+" missing")
		case !strings.EqualFold(have, want):
			bad = append(bad, fmt.Sprintf("%s is %s, reference %s", name, have, strings.ToLower(want)))
		}
	}
	if len(bad) > 0 {
		sortStrings(bad)
		return Refusef("measurements differ from the reference values: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Flatten returns every measurement of c and its parts, the parts' names
// prefixed "partN.".
func Flatten(c Claims) map[string]string {
	out := map[string]string{}
	for k, v := range c.Measurements {
		out[k] = v
	}
	for i, p := range c.Parts {
		for k, v := range Flatten(p) {
			out[fmt.Sprintf("part%d.%s", i, k)] = v
		}
	}
	return out
}
