package locate

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
)

// Bundle is the location evidence for one site at one time: the site's
// certificate chain, its signed facts (one per round trip from the home,
// each over a fresh nonce), the home's round-trip times, the witnesses'
// signed measurements and the verdict. The home signs the whole bundle
// (an evidence document) and logs its digest; Recheck verifies every inner
// signature again, offline, and recomputes the verdict.
type Bundle struct {
	Format    string         `json:"format"`
	Site      string         `json:"site"`
	Home      string         `json:"home"`
	Created   time.Time      `json:"created"`
	Chain     []string       `json:"chain"` // base64 DER: the site certificate, then the home CA
	HomeAt    Point          `json:"home_at"`
	Facts     []Signed       `json:"facts"`
	HomeRTT   []int64        `json:"home_rtt_ns"` // HomeRTT[i] is the round trip that returned Facts[i]
	Witnesses []WitnessProbe `json:"witnesses,omitempty"`
	Declared  *Point         `json:"declared,omitempty"` // from the facts
	Verdict   *Verdict       `json:"verdict,omitempty"`  // nil: the site declared no position
	Problems  []string       `json:"problems,omitempty"` // measurements that could not be taken
}

// WitnessProbe is one witness's part.
type WitnessProbe struct {
	Name   string  `json:"name"`
	VKey   string  `json:"vkey"`
	At     Point   `json:"at"`
	Nonce  string  `json:"nonce"`
	Answer *Signed `json:"answer,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Checked is what Recheck found.
type Checked struct {
	Site     *x509.Certificate
	Facts    []Facts
	RTTs     []RTT
	Verdict  *Verdict
	Problems []string // non-fatal: witnesses that did not answer
}

// Recheck verifies b against the home CA certificate ca: the chain (at the
// bundle's time), the site's identity, every facts signature and nonce,
// every witness answer against its key and the site certificate that
// answered, and recomputes the verdict, which must match the one stored.
func (b *Bundle) Recheck(ca *x509.Certificate) (*Checked, error) {
	if b.Format != BundleFormat {
		return nil, fmt.Errorf("location evidence format %.40q, want %s", b.Format, BundleFormat)
	}
	if len(b.Chain) == 0 || len(b.Chain) > MaxChainLen {
		return nil, fmt.Errorf("certificate chain of %d certificates", len(b.Chain))
	}
	var certs []*x509.Certificate
	for i, c := range b.Chain {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return nil, fmt.Errorf("chain[%d]: %w", i, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("chain[%d]: %w", i, err)
		}
		certs = append(certs, cert)
	}
	leaf := certs[0]
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: b.Created, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("site certificate does not chain to the home CA at %s: %w", b.Created.Format(time.RFC3339), err)
	}
	id, err := pki.Identify(leaf)
	if err != nil {
		return nil, fmt.Errorf("site certificate: %w", err)
	}
	if id.Role != pki.RoleSite || id.Name != b.Site || id.Home != b.Home {
		return nil, fmt.Errorf("the certificate is %s, not site %s of home %s", id, b.Site, b.Home)
	}
	if len(b.Facts) == 0 || len(b.Facts) > MaxSamples || len(b.Facts) != len(b.HomeRTT) {
		return nil, fmt.Errorf("%d facts for %d home round trips: want one per round trip, 1 to %d", len(b.Facts), len(b.HomeRTT), MaxSamples)
	}
	out := &Checked{Site: leaf}
	seen := map[string]bool{}
	home := Measurement{Name: b.Home, Kind: "home", At: b.HomeAt}
	for i, s := range b.Facts {
		f, err := VerifyFacts(s, leaf)
		if err != nil {
			return nil, fmt.Errorf("facts[%d]: %w", i, err)
		}
		if f.Site != b.Site || f.Home != b.Home {
			return nil, fmt.Errorf("facts[%d] are of site %q of home %q", i, f.Site, f.Home)
		}
		if seen[f.Nonce] {
			return nil, fmt.Errorf("facts[%d] repeat a nonce: a replayed answer", i)
		}
		seen[f.Nonce] = true
		if !samePoint(f.Declared, b.Declared) {
			return nil, fmt.Errorf("facts[%d] declare %v, the bundle %v", i, f.Declared, b.Declared)
		}
		if b.HomeRTT[i] <= 0 {
			return nil, fmt.Errorf("home round trip %d of %d ns", i, b.HomeRTT[i])
		}
		out.Facts = append(out.Facts, f)
		home.Samples = append(home.Samples, time.Duration(b.HomeRTT[i]))
	}
	ms := []Measurement{home}
	if len(b.Witnesses) > MaxWitness {
		return nil, fmt.Errorf("%d witnesses, limit %d", len(b.Witnesses), MaxWitness)
	}
	digest := CertDigest(leaf.Raw)
	for _, w := range b.Witnesses {
		if w.Answer == nil {
			out.Problems = append(out.Problems, fmt.Sprintf("witness %s did not measure: %s", w.Name, w.Error))
			continue
		}
		r, err := VerifyRTT(*w.Answer, w.VKey)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", w.Name, err)
		}
		switch {
		case r.Site != b.Site:
			return nil, fmt.Errorf("witness %s measured site %q", w.Name, r.Site)
		case r.Nonce != w.Nonce || seen[r.Nonce]:
			return nil, fmt.Errorf("witness %s answered another request (nonce)", w.Name)
		case r.SiteCert != digest:
			return nil, fmt.Errorf("witness %s measured a server whose certificate is not the site's", w.Name)
		}
		seen[r.Nonce] = true
		out.RTTs = append(out.RTTs, r)
		ms = append(ms, Measurement{Name: w.Name, Kind: "witness", At: w.At, Samples: r.Durations()})
	}
	if b.Declared == nil {
		if b.Verdict != nil {
			return nil, errors.New("a verdict without a declared position")
		}
		return out, nil
	}
	v, err := Check(*b.Declared, ms)
	if err != nil {
		return nil, err
	}
	if b.Verdict == nil || b.Verdict.Result != v.Result {
		return nil, fmt.Errorf("the bundle's verdict does not follow from its measurements (recomputed: %s)", v.Result)
	}
	out.Verdict = &v
	return out, nil
}

func samePoint(a, b *Point) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
