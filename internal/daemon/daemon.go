// Package daemon runs the embassy daemon from its options: it opens the
// host's storage, loads the site certificate and the home CA, and serves
// until the context ends (SIGTERM), draining in-flight requests. Both
// cmd/embassyd and 'embassy serve' call Run.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/directio"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
	"github.com/digital-embassy/embassy/internal/witness"
)

// Options are the daemon's flags.
type Options struct {
	Listen      string
	Store       string // any location.Open URL
	CA          string // the home CA certificate
	Cert, Key   string // the site certificate and key
	MaxBody     int64
	MaxInflight int
	PerClient   int
	Drain       time.Duration
	Create      bool             // create the store if missing
	EventsFile  string           // access events kept across restarts (JSON lines)
	CRL         string           // the home CA's revocation list, kept across restarts
	UIListen    string           // the host-side dashboard (mutual TLS); empty: none
	Facts       server.SiteFacts // the host's declared location, signed on request
	Hardware    []pki.Role       // client roles that must hold hardware-bound (TPM) certificates
	// Access approval and incidents (server.Config.AccessKey and files):
	// the home's access-decision verifier key, or a file holding it.
	AccessKey, AccessFile, IncidentsFile string
	Capacity                             string // the host's compute capacity file (internal/compute.HostConfig); empty: none

	// The host's witness for the home's transparency log (C2SP
	// tlog-witness), served on its own listener: the protocol is
	// authenticated by the signatures it checks and makes.
	WitnessListen string   // e.g. :7380; empty: no witness
	WitnessDir    string   // key, state and alerts
	WitnessLogs   []string // vkeys of the logs it witnesses
	WitnessName   string   // key name; default "<site>-witness"
	// WitnessPlainHTTP serves the witness without TLS (anyone may submit,
	// under rate and size limits); by default it is served over mutual TLS
	// with the site certificate, for home certificates of the home CA.
	WitnessPlainHTTP bool
}

// Flags registers the options on fs (for cmd/embassyd).
func (o *Options) Flags(fs *flag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", ":7443", "address to listen on")
	fs.StringVar(&o.Store, "store", "", "the host's storage: a directory, file:///path or s3://host/bucket")
	fs.StringVar(&o.CA, "ca", "", "the home CA certificate (ca.crt)")
	fs.StringVar(&o.Cert, "cert", "", "this site's certificate (role site)")
	fs.StringVar(&o.Key, "key", "", "this site's private key")
	fs.Int64Var(&o.MaxBody, "max-body", server.DefaultMaxBody, "largest object accepted, in bytes")
	fs.IntVar(&o.MaxInflight, "max-inflight", server.DefaultMaxInflight, "requests served at once")
	fs.IntVar(&o.PerClient, "per-client", server.DefaultPerClient, "requests served at once per client certificate")
	fs.DurationVar(&o.Drain, "drain", 30*time.Second, "how long shutdown waits for in-flight requests")
	fs.BoolVar(&o.Create, "create", false, "create the store if it does not exist")
	fs.StringVar(&o.EventsFile, "events-file", "", "keep access events (logins, refusals, disclosures) in this file across restarts until the home pulls them")
	fs.StringVar(&o.CRL, "crl", "", "keep the home CA's revocation list (pushed by 'embassy pki revoke') in this file; checked on every connection")
	fs.Func("location", "the host's declared position of this site, LAT,LON in decimal degrees (signed in the site facts the home asks for)", func(v string) error {
		p, err := locate.ParsePoint(v)
		o.Facts.Declared = &p
		return err
	})
	fs.Func("require-hardware-key", "refuse certificates of this client role (home, auditor, operator) unless their key is held by a TPM ('embassy pki issue --tpm'); repeatable", func(v string) error {
		r, err := pki.ParseRole(v)
		if err == nil && r == pki.RoleSite {
			err = errors.New("site certificates are not clients")
		}
		o.Hardware = append(o.Hardware, r)
		return err
	})
	fs.StringVar(&o.Facts.Place, "place", "", "the declared place of this site (e.g. \"Luxembourg, LU-1 data centre\")")
	fs.StringVar(&o.Facts.Jurisdiction, "jurisdiction", "", "the declared jurisdiction (ISO 3166 alpha-2) of this site")
	fs.StringVar(&o.Capacity, "capacity", "", "report the compute capacity declared in this file (GPUs, CPU, memory, running workloads) to the home, with what this machine measures")
	fs.StringVar(&o.UIListen, "ui-listen", "", "also serve the host-side dashboard (read-only, mutual TLS with home-PKI certificates) on this address")
	fs.StringVar(&o.AccessKey, "access-key", "", "the home's access-decision key ('embassy access key' prints it), or a file holding it; without it no privileged host access is approved")
	fs.StringVar(&o.AccessFile, "access-file", "", "keep host access requests and the home's decisions in this file across restarts")
	fs.StringVar(&o.IncidentsFile, "incidents-file", "", "keep incidents filed by host personnel in this file across restarts")
	fs.BoolVar(&o.WitnessPlainHTTP, "witness-plain-http", false, "serve the witness over plain HTTP instead of mutual TLS (rate and size limits still apply)")
	fs.StringVar(&o.WitnessListen, "witness-listen", "", "also serve a C2SP tlog-witness for the home's log on this address")
	fs.StringVar(&o.WitnessDir, "witness-dir", "", "the witness's key, state and alerts (required with --witness-listen)")
	fs.StringVar(&o.WitnessName, "witness-name", "", "the witness key's name (default SITE-witness)")
	fs.Func("witness-log", "verifier key of a log to witness (repeatable; the home's log/log.pub)", func(v string) error {
		o.WitnessLogs = append(o.WitnessLogs, v)
		return nil
	})
}

// Run serves until ctx ends.
func Run(ctx context.Context, o Options, log *slog.Logger) error {
	if o.Store == "" || o.CA == "" || o.Cert == "" || o.Key == "" {
		return hint.WithCode(errors.New("--store, --ca, --cert and --key are required"), hint.CodeUsage)
	}
	pair, pool, err := pki.TLSMaterial(pki.Files{CA: o.CA, Cert: o.Cert, Key: o.Key})
	if err != nil {
		return hint.Wrap(err, "issue a site certificate at the home with 'embassy pki issue --role site --name NAME --host HOST -o DIR'")
	}
	id, err := pki.Identify(pair.Leaf)
	if err != nil || id.Role != pki.RoleSite {
		return fmt.Errorf("%s is not a site certificate (role %q)", o.Cert, id.Role)
	}
	if time.Now().After(pair.Leaf.NotAfter) {
		return hint.Wrap(fmt.Errorf("site certificate expired on %s", pair.Leaf.NotAfter.Format(time.DateOnly)), "issue a new one at the home")
	}
	caCert, err := pki.LoadCert(o.CA)
	if err != nil {
		return err
	}
	accessKey, err := accessKeyOf(o.AccessKey)
	if err != nil {
		return err
	}
	b, err := location.Open(ctx, o.Store, site.Properties{Name: id.Name}, location.Options{Create: o.Create, Logger: log})
	if err != nil {
		return err
	}
	defer b.Close()
	capRep, err := capacityOf(o, id.Name)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Backend: b, ClientCAs: pool, Home: id.Home, Certificate: pair,
		MaxBody: o.MaxBody, MaxInflight: o.MaxInflight, PerClient: o.PerClient, Drain: o.Drain, Logger: log,
		EventsFile: o.EventsFile, CA: caCert, CRLFile: o.CRL, Facts: o.Facts, HardwareRoles: o.Hardware, Capacity: capRep,
		AccessKey: accessKey, AccessFile: o.AccessFile, IncidentsFile: o.IncidentsFile,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	// The witness and the dashboard serve until Run returns, whichever way:
	// nothing keeps listening behind a daemon that reported it stopped.
	var side sync.WaitGroup
	defer side.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log.InfoContext(ctx, "embassy daemon", slog.String("site", id.Name), slog.String("home", id.Home), slog.String("store", b.Properties().Location), slog.String("addr", ln.Addr().String()))
	if o.WitnessListen != "" {
		var tc *tls.Config
		if !o.WitnessPlainHTTP {
			// The same CRL as the daemon's: a revoked home certificate can
			// no longer submit checkpoints either.
			tc = pki.ServerTLS(pair, pool, pki.PeerCheck{Home: id.Home, Roles: []pki.Role{pki.RoleHome}, Revoked: srv.Revocations(), Hardware: o.Hardware},
				func(pid pki.Identity, err error) {
					log.WarnContext(ctx, "witness: client refused", "identity", pid.String(), "err", err)
					if pid.Home != "" { // a certificate of the home CA: an access event the home pulls
						srv.Refusal(pid, "", "witness: "+err.Error())
					}
				})
		}
		if err := startWitness(ctx, &side, o, id.Name, tc, srv, log); err != nil {
			ln.Close()
			return err
		}
	}
	if o.UIListen != "" {
		if err := startUI(ctx, &side, o.UIListen, srv, log); err != nil {
			ln.Close()
			return err
		}
	}
	return srv.Serve(ctx, ln)
}

// startUI serves the host-side dashboard until ctx ends, in a goroutine
// of side.
func startUI(ctx context.Context, side *sync.WaitGroup, addr string, srv *server.Server, log *slog.Logger) error {
	uln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--ui-listen: %w", err)
	}
	side.Go(func() {
		if err := srv.ServeHostView(ctx, uln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.ErrorContext(ctx, "host view", "err", err)
		}
	})
	log.InfoContext(ctx, "host view", slog.String("addr", uln.Addr().String()))
	return nil
}

// startWitness serves the host's witness until ctx ends, in a goroutine
// of side.
func startWitness(ctx context.Context, side *sync.WaitGroup, o Options, siteName string, tc *tls.Config, srv *server.Server, log *slog.Logger) error {
	if o.WitnessDir == "" || len(o.WitnessLogs) == 0 {
		return hint.WithCode(errors.New("--witness-listen needs --witness-dir and at least one --witness-log"), hint.CodeUsage)
	}
	name := o.WitnessName
	if name == "" {
		name = siteName + "-witness"
	}
	signer, vkey, err := witness.LoadOrCreateKey(o.WitnessDir, name, witness.Ed25519)
	if err != nil {
		return fmt.Errorf("witness key: %w", err)
	}
	w, err := witness.New(witness.Config{Dir: o.WitnessDir, Signer: signer, Logs: o.WitnessLogs, Logger: log})
	if err != nil {
		return err
	}
	ready := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	h := w.Handler()
	if tc != nil {
		// Round-trip measurements to the home's sites, for location evidence.
		rs, err := witness.RTTSigner(o.WitnessDir)
		if err != nil {
			return fmt.Errorf("witness key: %w", err)
		}
		sid, _ := pki.Identify(tc.Certificates[0].Leaf)
		h = witness.WithRTT(h, &witness.Prober{Signer: rs, Roots: tc.ClientCAs, Home: sid.Home})
		h = pki.RequireUnrevoked(srv.Revocations(), h, func(r *http.Request, err error) {
			id, _ := pki.Identify(r.TLS.PeerCertificates[0])
			srv.Refusal(id, r.RemoteAddr, "witness: "+err.Error())
		})
	}
	side.Go(func() {
		errc <- witness.ServeTLS(ctx, o.WitnessListen, h, tc, func(a net.Addr) { ready <- a })
	})
	select {
	case a := <-ready:
		scheme := "https"
		if tc == nil {
			scheme = "http"
		}
		log.InfoContext(ctx, "witness", slog.String("addr", a.String()), slog.String("vkey", vkey),
			slog.String("policy_line", fmt.Sprintf("witness %s %s %s://%s", name, vkey, scheme, a)))
		return nil
	case err := <-errc:
		return fmt.Errorf("witness: %w", err)
	}
}

// Main is cmd/embassyd: flags, signals are the caller's.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	// Large packs and restored files go around the page cache only when
	// asked (EMBASSY_DIRECT_IO; internal/directio).
	if err := directio.Configure(os.Getenv("EMBASSY_DIRECT_IO")); err != nil {
		fmt.Fprintf(stderr, "embassyd: warning: %v\n", err)
	}
	fs := flag.NewFlagSet("embassyd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	o.Flags(fs)
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "embassyd: error: --log-level %q: use debug, info, warn or error\n", *level)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if err := Run(ctx, o, log); err != nil {
		fmt.Fprintf(stderr, "embassyd: error: %v\n", err)
		if h := hint.Of(err); h != "" {
			fmt.Fprintf(stderr, "embassyd: hint: %s\n", h)
		}
		if hint.CodeOf(err) == hint.CodeUsage {
			return 2
		}
		return 1
	}
	return 0
}
