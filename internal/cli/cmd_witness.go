package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/witness"
)

func cmdWitness(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "witness",
		Short: "Run or register C2SP tlog-witnesses for the transparency log",
		Long: `A witness cosigns a log's checkpoint only after checking that it is
consistent with the last checkpoint it cosigned for that log, so the log
cannot fork, roll back or rewrite its history without the witness refusing
and raising an alert. The home runs two witnesses in-process (Ed25519 and
ML-DSA-44); each host site runs one ('embassy witness serve', or the host
daemon), and the home's policy requires all of them.`,
	}
	c.AddCommand(cmdWitnessServe(e), cmdWitnessKey(e), cmdWitnessAdd(e))
	return c
}

func cmdWitnessServe(e *env) *cobra.Command {
	var listen, dir, name, logsFile string
	var logs []string
	var pq bool
	var tf pki.Files
	var crl string
	c := &cobra.Command{
		Use:   "serve --listen ADDR --dir DIR --log VKEY",
		Short: "Run a standalone witness (C2SP tlog-witness over HTTP)",
		Long: `Serve POST /add-checkpoint (C2SP tlog-witness) for the logs whose verifier
keys are given with --log (or listed one per line in DIR/logs). The key is
created in DIR on first run; the state (latest cosigned size and root per
log) and alerts (DIR/alerts.jsonl) live there too. With --mldsa a second,
ML-DSA-44 witness is served under /pq. The policy lines to add to the home
are printed on start.

With --ca, --cert and --key (a site certificate of the home's CA) the
witness speaks mutual TLS and only the home's certificates may submit
checkpoints, checked against --crl on every connection; otherwise it
serves plain HTTP to anyone, under its rate and size limits.`,
		Example: `  embassy witness serve --listen 127.0.0.1:7380 --dir /var/lib/embassy-witness --name lu-1 --log "$(cat home/log/log.pub)"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				name = "witness-" + filepath.Base(dir)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "logs")); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "log ")); l != "" && !strings.HasPrefix(l, "#") {
						logs = append(logs, l)
					}
				}
			}
			if len(logs) == 0 {
				return usagef("no log to witness: pass --log VKEY (the home's log/log.pub)")
			}
			mux := http.NewServeMux()
			type line struct{ name, vkey, path string }
			var lines []line
			mk := func(wdir, wname, alg, prefix string) error {
				s, vkey, err := witness.LoadOrCreateKey(wdir, wname, alg)
				if err != nil {
					return err
				}
				w, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: logs, Logger: e.log})
				if err != nil {
					return err
				}
				if prefix == "" {
					mux.Handle("/", w.Handler())
				} else {
					mux.Handle(prefix+"/", http.StripPrefix(prefix, w.Handler()))
				}
				lines = append(lines, line{wname, vkey, prefix})
				return nil
			}
			if err := mk(dir, name, witness.Ed25519, ""); err != nil {
				return err
			}
			if pq {
				if err := mk(filepath.Join(dir, "pq"), name+"-pq", witness.MLDSA44, "/pq"); err != nil {
					return err
				}
			}
			var tc *tls.Config
			var rev *pki.Revocations
			scheme := "http"
			if tf.CA != "" || tf.Cert != "" || tf.Key != "" {
				pair, pool, err := pki.TLSMaterial(tf)
				if err != nil {
					return hint.WithCode(hint.Wrap(err, "--ca, --cert and --key name the witness's site certificate from 'embassy pki issue --role site'"), hint.CodeUsage)
				}
				id, err := pki.Identify(pair.Leaf)
				if err != nil || id.Role != pki.RoleSite {
					return usagef("--cert %s is not a site certificate", tf.Cert)
				}
				caCert, err := pki.LoadCert(tf.CA)
				if err != nil {
					return err
				}
				rev, err = pki.OpenRevocations(crl, caCert)
				if err != nil {
					return err
				}
				tc = pki.ServerTLS(pair, pool, pki.PeerCheck{Home: id.Home, Roles: []pki.Role{pki.RoleHome}, Revoked: rev},
					func(pid pki.Identity, err error) {
						e.log.Warn("witness: client refused", "identity", pid.String(), "err", err)
					})
				scheme = "https"
			}
			var h http.Handler = mux
			if tc != nil {
				rs, err := witness.RTTSigner(dir)
				if err != nil {
					return err
				}
				sid, _ := pki.Identify(tc.Certificates[0].Leaf)
				h = witness.WithRTT(mux, &witness.Prober{Signer: rs, Roots: tc.ClientCAs, Home: sid.Home})
				h = pki.RequireUnrevoked(rev, h, func(r *http.Request, err error) {
					id, _ := pki.Identify(r.TLS.PeerCertificates[0])
					e.log.WarnContext(r.Context(), "witness: request refused", "identity", id.String(), "remote", r.RemoteAddr, "err", err)
				})
			}
			return witness.ServeTLS(e.ctx, listen, h, tc, func(a net.Addr) {
				for _, l := range lines {
					fmt.Fprintf(e.stdout, "witness %s %s %s://%s%s\n", policyName(l.name), l.vkey, scheme, a, l.path)
				}
				if f, ok := e.stdout.(interface{ Sync() error }); ok {
					f.Sync()
				}
			})
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:7380", "address to listen on (port 0 picks a free one)")
	f.StringVar(&dir, "dir", "", "witness directory: key, state and alerts")
	f.StringVar(&name, "name", "", "witness key name (default witness-<dir name>)")
	f.StringSliceVar(&logs, "log", nil, "verifier key of a log to witness (repeatable)")
	f.StringVar(&logsFile, "logs-file", "", "unused; logs are also read from DIR/logs")
	f.MarkHidden("logs-file")
	f.BoolVar(&pq, "mldsa", false, "also serve an ML-DSA-44 witness under /pq")
	f.StringVar(&tf.CA, "ca", "", "the home CA certificate: serve mutual TLS (with --cert and --key)")
	f.StringVar(&tf.Cert, "cert", "", "the witness's site certificate")
	f.StringVar(&tf.Key, "key", "", "its private key")
	f.StringVar(&crl, "crl", "", "the home CA's revocation list (pki/crl.pem), re-read on change")
	c.MarkFlagRequired("dir")
	return c
}

// policyName turns a key name into a policy component name.
func policyName(n string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r <= ' ' {
			return '-'
		}
		return r
	}, n)
}

func cmdWitnessKey(e *env) *cobra.Command {
	var dir, name, alg, url string
	c := &cobra.Command{
		Use:     "key --dir DIR --name NAME",
		Short:   "Create (or show) a witness key and print its policy line",
		Example: `  embassy witness key --dir /var/lib/embassy-witness --name lu-1 --url http://10.0.0.5:7380`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, vkey, err := witness.LoadOrCreateKey(dir, name, alg)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"name": name, "vkey": vkey, "url": url})
			}
			fmt.Fprintf(e.stdout, "witness %s %s %s\n", policyName(name), vkey, url)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "", "witness directory")
	f.StringVar(&name, "name", "", "witness key name")
	f.StringVar(&alg, "alg", witness.Ed25519, "key algorithm: ed25519 or mldsa44")
	f.StringVar(&url, "url", "", "URL the witness will be reached at")
	c.MarkFlagRequired("dir")
	c.MarkFlagRequired("name")
	return c
}

func cmdWitnessAdd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "add NAME VKEY URL",
		Short: "Require a host site's witness in the home's log policy",
		Long: `Add a witness to the home's C2SP tlog-policy and to the group the quorum
requires: from now on no checkpoint is published without its cosignature.
The change itself is logged first (under the old policy).`,
		Example: `  embassy witness add lu-1 lu-1+3c1f2a9b+BH... http://10.0.0.5:7380`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, vkey, url := args[0], args[1], args[2]
			h, err := e.openHome()
			if err != nil {
				return err
			}
			hl, err := e.setupLog(h)
			if err != nil {
				return err
			}
			for _, w := range hl.policy.Witnesses {
				if w.Name == name {
					return hint.WithCode(fmt.Errorf("the policy already has a witness named %q", name), hint.CodeUsage)
				}
			}
			pp := filepath.Join(hl.dir, tlog.PolicyFile)
			text, err := os.ReadFile(pp)
			if err != nil {
				return err
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
				return hint.Wrap(fmt.Errorf("%s has no 'group required' line", pp), "edit the policy by hand")
			}
			if _, err := tlog.ParsePolicy(out.Bytes()); err != nil {
				return usagef("%v", err)
			}
			if err := e.record(h, tlog.Entry{Kind: tlog.KindWitnessChange, Object: name, Details: map[string]string{"action": "add", "vkey": vkey, "url": url}}); err != nil {
				return err
			}
			if err := atomicfile.Write(pp, out.Bytes(), 0o644); err != nil {
				return err
			}
			e.printf("Added witness %s; the quorum now requires its cosignature\n", name)
			if np, err := tlog.ParsePolicy(out.Bytes()); err == nil {
				warnHomeAlone(e, np)
			}
			return nil
		},
	}
}

// witnessTransport reaches witnesses for the home's log: an https://
// witness whose certificate the home CA issued (a host site's) is reached
// over mutual TLS with the home's client certificate (pki/home.crt) and
// must carry the site role of this home; an https:// witness with another
// CA's certificate (an independent witness) over ordinary TLS. Without a
// home PKI it is the default transport.
func witnessTransport(h *home.Home) http.RoundTripper {
	dir := pkiDir(h)
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

// warnHomeAlone warns when a policy's quorum can be met by the home's own
// witnesses alone: what it verifies proves nothing against the home.
func warnHomeAlone(e *env, p *tlog.Policy) {
	if err := p.RequireExternal(); err != nil { // a warning, not a partial failure (exit code unchanged)
		fmt.Fprintf(e.stderr, "embassy: warning: %v: the home could rewrite this history unnoticed\n", err)
	}
}
