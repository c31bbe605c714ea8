package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site/remote"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// KindLocation is the evidence document of 'embassy site locate' and the
// log entry that records it.
const (
	KindLocation      = "location-evidence"
	KindLocationEntry = tlog.KindSiteLocate
)

// LocateRequest asks for location evidence of one daemon site.
type LocateRequest struct {
	Site      string
	HomeAt    locate.Point            // where the home measures from
	WitnessAt map[string]locate.Point // positions of the log policy's host witnesses, by name
	Samples   int                     // round trips per measuring point; 0: 5
	Out       string                  // the signed bundle; "": <home>/evidence/location-SITE-TIME.json
}

// Located is the signed, logged evidence.
type Located struct {
	Bundle *locate.Bundle
	Path   string
	SHA256 string
}

// Locate measures where a daemon site is: its signed facts over fresh
// nonces, timed from the home; round trips measured and signed by every
// host witness of the log policy whose position is given; the speed-of-light
// verdict. The bundle is rechecked, signed with the current root key and
// recorded in the log. A contradicted or inconsistent verdict is returned
// with the evidence and an error of code 3.
func (v *Vault) Locate(ctx context.Context, req LocateRequest) (*Located, error) {
	if v.Repo == nil || v.Repo.Root() == nil {
		return nil, errors.New("location evidence is signed with the root key: open the vault with its keys")
	}
	if req.Samples <= 0 {
		req.Samples = 5
	}
	if req.Samples > locate.MaxSamples {
		return nil, hint.WithCode(fmt.Errorf("%d samples: at most %d", req.Samples, locate.MaxSamples), hint.CodeUsage)
	}
	if err := req.HomeAt.Valid(); err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	h := v.Home
	sc, _ := h.Site(req.Site)
	if sc == nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("no site %q", req.Site), "see 'embassy site list'"), hint.CodeUsage)
	}
	if !strings.HasPrefix(sc.URL, "embassy://") && !strings.HasPrefix(sc.URL, "https://") {
		shown, _ := RedactURL(sc.URL)
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("site %s is not an embassy daemon (%s)", sc.Name, shown),
			"location evidence needs a daemon that signs its facts: run embassyd at the host with --location"), hint.CodeUsage)
	}
	u := sc.URL
	if !strings.Contains(u, "?") {
		u += "?pki=" + url.QueryEscape(filepath.Join(h.Dir, "pki")) + "&id=home"
	}
	cfg, err := remote.ParseConfig(u)
	if err != nil {
		return nil, err
	}
	if cfg.ExpectSite == "" {
		cfg.ExpectSite = sc.Name
	}
	pair, pool, err := pki.TLSMaterial(cfg.Files)
	if err != nil {
		return nil, hint.Wrap(err, "the home's client certificate is made by 'embassy pki init'")
	}
	ca := HomeCA(h)
	if ca == nil {
		return nil, hint.Wrap(errors.New("no home CA"), "run 'embassy pki init'")
	}
	b := &locate.Bundle{Format: locate.BundleFormat, Site: cfg.ExpectSite, Home: h.Config.Home, Created: v.Now(), HomeAt: req.HomeAt}
	leaf, err := v.probeFacts(ctx, b, cfg.Host, pki.ClientTLS(pair, pool, h.Config.Home, cfg.ExpectSite), req.Samples)
	if err != nil {
		return nil, err
	}
	b.Chain = []string{base64.StdEncoding.EncodeToString(leaf.Raw), base64.StdEncoding.EncodeToString(ca.Raw)}
	ms := []locate.Measurement{{Name: b.Home, Kind: "home", At: req.HomeAt}}
	for _, s := range b.HomeRTT {
		ms[0].Samples = append(ms[0].Samples, time.Duration(s))
	}
	ms = append(ms, v.probeWitnesses(ctx, b, cfg.Host, req, locate.CertDigest(leaf.Raw))...)
	if b.Declared == nil {
		b.Problems = append(b.Problems, "the site declares no position (embassyd --location LAT,LON): only the round-trip bounds are recorded")
	} else {
		verdict, err := locate.Check(*b.Declared, ms)
		if err != nil {
			return nil, err
		}
		b.Verdict = &verdict
	}
	if _, err := b.Recheck(ca); err != nil {
		return nil, fmt.Errorf("the evidence just gathered does not recheck: %w", err)
	}
	root := v.Repo.Root()
	doc, err := evidence.Sign(KindLocation, b, root.Signer(), h.Config.Home, root.Epoch, root.Signer())
	if err != nil {
		return nil, err
	}
	out := req.Out
	if out == "" {
		out = filepath.Join(h.Dir, "evidence", fmt.Sprintf("location-%s-%s.json", b.Site, b.Created.Format("20060102T150405Z")))
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			return nil, err
		}
	}
	sum, err := WriteDoc(out, doc)
	if err != nil {
		return nil, err
	}
	result := "no-position"
	if b.Verdict != nil {
		result = b.Verdict.Result
	}
	det := map[string]string{"result": result, "sha256": sum, "home_min_rtt_ns": fmt.Sprint(int64(ms[0].Min())), "witnesses": fmt.Sprint(len(ms) - 1)}
	if b.Declared != nil {
		det["declared"] = b.Declared.String()
	}
	if err := v.Recorder().Append(ctx, tlog.Entry{Kind: KindLocationEntry, Site: b.Site, Object: sum, Details: det}); err != nil {
		return nil, fmt.Errorf("location evidence written to %s but not recorded in the log: %w", out, err)
	}
	res := &Located{Bundle: b, Path: out, SHA256: sum}
	if result == locate.Contradicted || result == locate.Inconsistent {
		return res, hint.WithCode(hint.Wrap(fmt.Errorf("site %s: location %s: %s", b.Site, result, strings.Join(b.Verdict.Reasons, "; ")),
			"the site's key answered faster than its declared position allows: ask the host where the site really is (the evidence is in "+out+")"), hint.CodeDamaged)
	}
	return res, nil
}

// probeFacts asks the site for its signed facts n+1 times over one
// connection (the first, which pays the handshake, is not counted) and
// records each answer with its round trip.
func (v *Vault) probeFacts(ctx context.Context, b *locate.Bundle, host string, tc *tls.Config, n int) (*x509.Certificate, error) {
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var leaf *x509.Certificate
	for i := 0; i <= n; i++ {
		nonce := locate.NewNonce()
		body, _ := json.Marshal(map[string]string{"nonce": nonce})
		rq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+host+"/v1/facts", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		start := time.Now() //nolint:forbidigo // a round trip is timed on the monotonic clock, never the vault's (pinnable) clock
		resp, err := cl.Do(rq)
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("site %s: %w", b.Site, err), "the daemon must be reachable with the home's certificate")
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, locate.MaxSigned+1))
		rtt := time.Since(start)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, hint.Wrap(fmt.Errorf("site %s: facts: HTTP %d: %.200s", b.Site, resp.StatusCode, raw), "upgrade embassyd at the host: this daemon does not sign site facts")
		}
		s, err := locate.ParseSigned(raw)
		if err != nil {
			return nil, hint.WithCode(fmt.Errorf("site %s: %w", b.Site, err), hint.CodeDamaged)
		}
		cert := resp.TLS.PeerCertificates[0]
		if leaf != nil && !bytes.Equal(leaf.Raw, cert.Raw) {
			return nil, hint.WithCode(fmt.Errorf("site %s answered with two certificates", b.Site), hint.CodeDamaged)
		}
		leaf = cert
		f, err := locate.VerifyFacts(s, cert)
		if err != nil {
			return nil, hint.WithCode(fmt.Errorf("site %s: %w", b.Site, err), hint.CodeDamaged)
		}
		if f.Nonce != nonce || f.Site != b.Site || f.Home != b.Home {
			return nil, hint.WithCode(fmt.Errorf("site %s answered facts for another request (nonce, site or home differ)", b.Site), hint.CodeDamaged)
		}
		if i == 0 {
			b.Declared = f.Declared
			continue
		}
		if (f.Declared == nil) != (b.Declared == nil) || (f.Declared != nil && *f.Declared != *b.Declared) {
			return nil, hint.WithCode(fmt.Errorf("site %s declared two positions", b.Site), hint.CodeDamaged)
		}
		b.Facts = append(b.Facts, s)
		b.HomeRTT = append(b.HomeRTT, int64(rtt))
	}
	return leaf, nil
}

// probeWitnesses asks every host witness of the log policy with a known
// position to measure the site; a witness that fails, or measured another
// server than the home saw (siteCert), is noted, not fatal.
func (v *Vault) probeWitnesses(ctx context.Context, b *locate.Bundle, host string, req LocateRequest, siteCert string) []locate.Measurement {
	rc := v.Recorder()
	if err := rc.Setup(); err != nil {
		b.Problems = append(b.Problems, "no log policy: "+err.Error())
		return nil
	}
	var ms []locate.Measurement
	cl := &http.Client{Transport: v.wtr, Timeout: 60 * time.Second}
	for _, pw := range rc.Policy.External() {
		at, ok := req.WitnessAt[pw.Name]
		if !ok {
			b.Problems = append(b.Problems, fmt.Sprintf("witness %s: no position given (--witness-at %s=LAT,LON): not asked", pw.Name, pw.Name))
			continue
		}
		if _, err := locate.RTTVerifier(pw.VKey); err != nil {
			b.Problems = append(b.Problems, fmt.Sprintf("witness %s: %v", pw.Name, err))
			continue
		}
		wp := locate.WitnessProbe{Name: pw.Name, VKey: pw.VKey, At: at, Nonce: locate.NewNonce()}
		r, err := askWitness(ctx, cl, pw.URL, locate.RTTRequest{Site: b.Site, Addr: host, Nonce: wp.Nonce, Samples: req.Samples}, pw.VKey)
		if err == nil && r.RTT.Site != b.Site {
			err = fmt.Errorf("measured site %q", r.RTT.Site)
		}
		if err == nil && (r.RTT.Nonce != wp.Nonce || r.RTT.Addr != host) {
			err = errors.New("answered another request (nonce or address)")
		}
		if err == nil && r.RTT.SiteCert != siteCert {
			err = errors.New("measured a server whose certificate is not the one the home saw")
		}
		if err != nil {
			wp.Error = err.Error()
			b.Problems = append(b.Problems, fmt.Sprintf("witness %s: %v", pw.Name, err))
		} else {
			wp.Answer = &r.Signed
			ms = append(ms, locate.Measurement{Name: pw.Name, Kind: "witness", At: at, Samples: r.RTT.Durations()})
		}
		b.Witnesses = append(b.Witnesses, wp)
	}
	return ms
}

type witnessAnswer struct {
	Signed locate.Signed
	RTT    locate.RTT
}

func askWitness(ctx context.Context, cl *http.Client, base string, rr locate.RTTRequest, vkey string) (*witnessAnswer, error) {
	body, _ := json.Marshal(rr)
	rq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/rtt", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(rq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, locate.MaxSigned+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	s, err := locate.ParseSigned(raw)
	if err != nil {
		return nil, err
	}
	r, err := locate.VerifyRTT(s, vkey)
	if err != nil {
		return nil, err
	}
	return &witnessAnswer{Signed: s, RTT: r}, nil
}

// VerifyLocation checks a location evidence file offline: the home's
// signature (bound to the home id when endorsed by its epoch-1 key), then
// every inner signature and the verdict (locate.Bundle.Recheck) against
// ca, or, if ca is nil, against the CA certificate the bundle carries
// (trusted because the home signed the bundle).
func VerifyLocation(raw []byte, ca *x509.Certificate) (*evidence.Verified, *locate.Bundle, *locate.Checked, error) {
	if len(raw) > locate.MaxBundle {
		return nil, nil, nil, fmt.Errorf("evidence of %d bytes, limit %d", len(raw), locate.MaxBundle)
	}
	d, err := evidence.Parse(raw)
	if err != nil {
		return nil, nil, nil, err
	}
	if d.Kind != KindLocation {
		return nil, nil, nil, fmt.Errorf("a %s document, not location evidence", d.Kind)
	}
	ver, err := evidence.Verify(d, repo.HomeIDFor)
	if err != nil {
		return nil, nil, nil, err
	}
	var b locate.Bundle
	if err := d.Decode(&b); err != nil {
		return nil, nil, nil, err
	}
	if ver.Endorsed && ver.Home != b.Home {
		return nil, nil, nil, fmt.Errorf("evidence signed for home %s names home %s", ver.Home, b.Home)
	}
	if ca == nil {
		if len(b.Chain) < 2 {
			return nil, nil, nil, errors.New("the bundle carries no CA certificate: pass the home's ca.crt")
		}
		der, err := base64.StdEncoding.DecodeString(b.Chain[len(b.Chain)-1])
		if err == nil {
			ca, err = x509.ParseCertificate(der)
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("the bundle's CA certificate: %w", err)
		}
	}
	c, err := b.Recheck(ca)
	return ver, &b, c, err
}
