package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/witness"
)

// The witnesses of the home's log seen from the service layer: the
// standalone witness a host runs ('embassy witness serve'), a host's
// witness added to the home's policy ('witness add'), and the transport
// the home's log uses to reach them.

// WitnessServeRequest configures a standalone witness.
type WitnessServeRequest struct {
	Listen, Dir, Name string
	Logs              []string // verifier keys of the logs to witness (plus DIR/logs)
	PQ                bool     // also an ML-DSA-44 witness under /pq
	TLS               pki.Files
	CRL               string
	Logger            *slog.Logger
}

// WitnessLine is one witness served, as the policy line to add at home.
type WitnessLine struct {
	Name, VKey, URL string
}

func (l WitnessLine) String() string {
	return fmt.Sprintf("witness %s %s %s", PolicyName(l.Name), l.VKey, l.URL)
}

// PolicyName is a witness key name as a tlog-policy name.
func PolicyName(n string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r <= ' ' {
			return '-'
		}
		return r
	}, n)
}

// ServeWitness serves POST /add-checkpoint (C2SP tlog-witness) for the
// request's logs until ctx ends. With TLS files (a site certificate of the
// home's CA) it speaks mutual TLS and takes checkpoints only from the
// home's unrevoked certificates. ready gets the policy lines once it
// listens.
func ServeWitness(ctx context.Context, req WitnessServeRequest, ready func([]WitnessLine)) error {
	if req.Name == "" {
		req.Name = "witness-" + filepath.Base(req.Dir)
	}
	logs := append([]string(nil), req.Logs...)
	if b, err := os.ReadFile(filepath.Join(req.Dir, "logs")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "log ")); l != "" && !strings.HasPrefix(l, "#") {
				logs = append(logs, l)
			}
		}
	}
	if len(logs) == 0 {
		return hint.WithCode(hint.Wrap(errors.New("no log to witness"), "pass --log VKEY (the home's log/log.pub)"), hint.CodeUsage)
	}
	logger := req.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	var lines []WitnessLine
	mk := func(wdir, wname, alg, prefix string) error {
		s, vkey, err := witness.LoadOrCreateKey(wdir, wname, alg)
		if err != nil {
			return err
		}
		w, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: logs, Logger: logger})
		if err != nil {
			return err
		}
		if prefix == "" {
			mux.Handle("/", w.Handler())
		} else {
			mux.Handle(prefix+"/", http.StripPrefix(prefix, w.Handler()))
		}
		lines = append(lines, WitnessLine{Name: wname, VKey: vkey, URL: prefix})
		return nil
	}
	if err := mk(req.Dir, req.Name, witness.Ed25519, ""); err != nil {
		return err
	}
	if req.PQ {
		if err := mk(filepath.Join(req.Dir, "pq"), req.Name+"-pq", witness.MLDSA44, "/pq"); err != nil {
			return err
		}
	}
	var tc *tls.Config
	var h http.Handler = mux
	scheme := "http"
	if tf := req.TLS; tf.CA != "" || tf.Cert != "" || tf.Key != "" {
		pair, pool, err := pki.TLSMaterial(tf)
		if err != nil {
			return hint.WithCode(hint.Wrap(err, "--ca, --cert and --key name the witness's site certificate from 'embassy pki issue --role site'"), hint.CodeUsage)
		}
		id, err := pki.Identify(pair.Leaf)
		if err != nil || id.Role != pki.RoleSite {
			return hint.WithCode(fmt.Errorf("--cert %s is not a site certificate", tf.Cert), hint.CodeUsage)
		}
		caCert, err := pki.LoadCert(tf.CA)
		if err != nil {
			return err
		}
		rev, err := pki.OpenRevocations(req.CRL, caCert)
		if err != nil {
			return err
		}
		tc = pki.ServerTLS(pair, pool, pki.PeerCheck{Home: id.Home, Roles: []pki.Role{pki.RoleHome}, Revoked: rev},
			func(pid pki.Identity, err error) {
				logger.WarnContext(ctx, "witness: client refused", "identity", pid.String(), "err", err)
			})
		// Round-trip measurements to the home's sites, for location
		// evidence (framework requirement 8), behind the same mutual TLS.
		rs, err := witness.RTTSigner(req.Dir)
		if err != nil {
			return err
		}
		h = witness.WithRTT(mux, &witness.Prober{Signer: rs, Roots: tc.ClientCAs, Home: id.Home})
		h = pki.RequireUnrevoked(rev, h, func(r *http.Request, err error) {
			pid, _ := pki.Identify(r.TLS.PeerCertificates[0])
			logger.WarnContext(r.Context(), "witness: request refused", "identity", pid.String(), "remote", r.RemoteAddr, "err", err)
		})
		scheme = "https"
	}
	return witness.ServeTLS(ctx, req.Listen, h, tc, func(a net.Addr) {
		out := make([]WitnessLine, len(lines))
		for i, l := range lines {
			out[i] = WitnessLine{Name: l.Name, VKey: l.VKey, URL: scheme + "://" + a.String() + l.URL}
		}
		ready(out)
	})
}

// AddWitness adds a host's witness to the home's log policy and to the
// group the quorum requires, after logging the change under the old
// policy. It returns the new policy.
func (v *Vault) AddWitness(ctx context.Context, name, vkey, url string) (*tlog.Policy, error) {
	rc := v.Recorder()
	if err := rc.Setup(); err != nil {
		return nil, err
	}
	for _, w := range rc.Policy.Witnesses {
		if w.Name == name {
			return nil, hint.WithCode(fmt.Errorf("the policy already has a witness named %q", name), hint.CodeUsage)
		}
	}
	pp := filepath.Join(rc.Dir, tlog.PolicyFile)
	text, err := os.ReadFile(pp)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	added := false
	for _, l := range strings.SplitAfter(string(text), "\n") {
		f := strings.Fields(l)
		if !added && len(f) >= 3 && f[0] == "group" && f[1] == "required" {
			fmt.Fprintf(&out, "witness %s %s %s\n", name, vkey, url)
			l = strings.TrimRight(l, "\n") + " " + name + "\n"
			added = true
		}
		out.WriteString(l)
	}
	if !added {
		return nil, hint.Wrap(fmt.Errorf("%s has no 'group required' line", pp), "edit the policy by hand")
	}
	np, err := tlog.ParsePolicy(out.Bytes())
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	if err := rc.Append(ctx, tlog.Entry{Kind: tlog.KindWitnessChange, Object: name, Details: map[string]string{"action": "add", "vkey": vkey, "url": url}}); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(pp, out.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return np, nil
}

// WitnessTransport reaches the log's witnesses: https witnesses with the
// home's client certificate (pki/home.crt), falling back to plain TLS for
// a witness whose certificate the home CA did not issue (an independent
// witness); http ones directly.
func WitnessTransport(h *home.Home) http.RoundTripper {
	dir := filepath.Join(h.Dir, "pki")
	pair, pool, err := pki.TLSMaterial(pki.Files{CA: filepath.Join(dir, pki.CACertFile), Cert: filepath.Join(dir, "home.crt"), Key: filepath.Join(dir, "home.key")})
	if err != nil {
		return http.DefaultTransport
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = pki.ClientTLS(pair, pool, h.Config.Home, "")
	return witnessRT{home: tr, public: http.DefaultTransport}
}

type witnessRT struct{ home, public http.RoundTripper }

func (w witnessRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return w.public.RoundTrip(r)
	}
	resp, err := w.home.RoundTrip(r)
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &cve) || !errors.As(cve.Err, &ua) || r.GetBody == nil {
		return resp, err // a home-CA certificate of the wrong role is refused, not retried
	}
	body, gerr := r.GetBody()
	if gerr != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Body = body
	return w.public.RoundTrip(r2) // not issued by the home CA: an independent witness
}
