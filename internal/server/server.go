// Package server is the embassy daemon: it runs at a host site over that
// site's storage (any site.Backend) and serves the home over HTTP/1.1 and
// HTTP/2 on TLS 1.3 with mutual authentication. Client certificates come
// from the home's CA (internal/pki) and carry a role; every request is
// authorized by role. Key exchange prefers the hybrid post-quantum group
// X25519MLKEM768. The API is documented in docs/formats/daemon-api.md.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
)

// Config configures a Server.
type Config struct {
	Backend     site.Backend
	ClientCAs   *x509.CertPool  // the home CA
	Home        string          // home id clients must belong to; "" accepts any home of ClientCAs
	Certificate tls.Certificate // the daemon's site certificate
	MaxBody     int64           // largest object accepted; 0: DefaultMaxBody
	MaxInflight int             // requests served at once; 0: DefaultMaxInflight
	PerClient   int             // requests at once per client certificate; 0: DefaultPerClient
	CacheBytes  int64           // outboard cache for proofs; 0: DefaultCacheBytes
	Drain       time.Duration   // how long shutdown waits for in-flight requests; 0: 30s
	Logger      *slog.Logger
	// EventsFile keeps access events (logins, refusals, disclosures) as
	// JSON lines that survive restarts until the home pulls them; "" keeps
	// them in memory only.
	EventsFile string
	// EventsMaxBytes is the events file size past which it is compacted to
	// the current windows; 0: DefaultMaxEventsFile.
	EventsMaxBytes int64
	// Limits bound unauthenticated connections (zero values: defaults).
	Limits Limits
	// CA is the home CA certificate; with it the daemon holds the CA's CRL
	// (kept in CRLFile, or in memory if "") and accepts newer ones from the
	// home (PUT /v1/crl). Every connection and request is checked against it.
	CA      *x509.Certificate
	CRLFile string
	// AccessKey is the verifier key of the home's access decisions
	// ('embassy access key'); without it no privileged access is ever
	// approved. AccessFile and IncidentsFile keep access requests and
	// incident filings across restarts ("": memory only).
	AccessKey, AccessFile, IncidentsFile string
	// HardwareRoles are the client roles whose certificates must be
	// hardware-bound (pki.HardwareBound: the key made inside a TPM).
	HardwareRoles []pki.Role
	// Facts is what the host declares about the site's location, signed
	// on request (POST /v1/facts, api_facts.go).
	Facts SiteFacts
	// Capacity, if set, answers the home's compute capacity challenge
	// (POST /v1/capacity, api_capacity.go).
	Capacity CapacityReporter
}

// Defaults.
const (
	DefaultMaxBody     = 1 << 30
	DefaultMaxInflight = 64
	DefaultPerClient   = 16
	DefaultCacheBytes  = 256 << 20
)

// Server is the daemon. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *daemonMetrics
	sem     chan struct{}
	clients *clientLimiter
	events  *eventLog
	cache   *outboardCache
	revoked *pki.Revocations // nil without Config.CA
	host    hostState        // the host-side view's (hostview.go)

	// access requests and incidents (api_access.go, api_incidents.go)
	access    *accessStore
	incidents *incidentStore
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil || cfg.ClientCAs == nil || cfg.Certificate.Certificate == nil {
		return nil, errors.New("server: backend, client CA and certificate are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.PerClient <= 0 {
		cfg.PerClient = DefaultPerClient
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		metrics: newMetrics(),
		sem:     make(chan struct{}, cfg.MaxInflight),
		clients: &clientLimiter{max: cfg.PerClient, n: map[string]int{}},
		events:  newEventLog(cfg.EventsFile, cfg.EventsMaxBytes, cfg.Logger),
		cache:   newOutboardCache(cfg.CacheBytes),
	}
	s.events.counted = s.metrics.event
	if err := s.events.load(); err != nil {
		return nil, fmt.Errorf("events file: %w", err)
	}
	if cfg.CA != nil {
		r, err := pki.OpenRevocations(cfg.CRLFile, cfg.CA)
		if err != nil {
			return nil, fmt.Errorf("revocation list: %w", err)
		}
		s.revoked = r
	}
	var err error
	if s.access, err = newAccessStore(cfg.AccessFile, cfg.AccessKey, cfg.Home, cfg.Backend.Properties().Name, cfg.Logger); err != nil {
		return nil, err
	}
	if s.incidents, err = newIncidentStore(cfg.IncidentsFile, s.access); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Revocations is the CRL the daemon holds (nil without Config.CA), for a
// witness served next to it.
func (s *Server) Revocations() *pki.Revocations { return s.revoked }

// Refusal records a refusal made next to the daemon (by the witness it
// serves) as an access event, so that the home pulls it into its log.
func (s *Server) Refusal(identity pki.Identity, remote, detail string) {
	s.events.add(Event{Kind: "denied", Identity: identity.String(), Role: string(identity.Role), Remote: remote, Detail: detail})
}

// Handler returns the HTTP handler; it expects requests over mutual TLS.
func (s *Server) Handler() http.Handler { return s.mux }

// TLSConfig returns the daemon's TLS configuration: TLS 1.3 only, client
// certificates required and verified against the home CA, and only the
// hybrid post-quantum key exchange X25519MLKEM768: a classical-only client
// is refused, so no recorded session can be decrypted by a future quantum
// computer.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{s.cfg.Certificate},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        s.cfg.ClientCAs,
		CurvePreferences: pki.PQCurves,
		NextProtos:       []string{"h2", "http/1.1"},
		VerifyConnection: s.verifyConnection,
	}
}

func (s *Server) verifyConnection(cs tls.ConnectionState) error {
	s.metrics.handshake(cs.CurveID.String())
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	id, err := pki.Identify(cs.PeerCertificates[0])
	switch {
	case err != nil:
	case s.cfg.Home != "" && id.Home != s.cfg.Home:
		err = fmt.Errorf("certificate of home %q, want %q", id.Home, s.cfg.Home)
	case id.Role == pki.RoleSite:
		err = errors.New("a site certificate cannot act as a client")
	case slices.Contains(s.cfg.HardwareRoles, id.Role) && !pki.HardwareBound(cs.PeerCertificates[0]):
		err = fmt.Errorf("%w: role %s needs a certificate whose key is held by a TPM ('embassy pki issue --tpm')", pki.ErrNotHardware, id.Role)
	default:
		err = s.revoked.Check(cs.PeerCertificates[0])
	}
	if err != nil {
		s.metrics.reject("identity")
		s.events.add(Event{Kind: "denied", Identity: id.String(), Role: string(id.Role), Detail: err.Error()})
		return err
	}
	s.events.add(Event{Kind: "login", Identity: id.String(), Role: string(id.Role), Detail: cs.CurveID.String()})
	return nil
}

// Serve serves on ln until ctx is done, then stops accepting, lets in-flight
// requests finish (up to Config.Drain) and returns. Handshakes run behind
// the unauthenticated-connection limits (Config.Limits).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newErrorLog(s),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	errc := make(chan error, 1)
	gl := newGuard(ln, srv.TLSConfig, s.cfg.Limits, s)
	go func() { errc <- srv.Serve(gl) }()
	s.log.InfoContext(ctx, "serving", slog.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.InfoContext(ctx, "draining", slog.Int64("inflight", s.metrics.inflight.Load()))
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Drain)
	defer cancel()
	err := srv.Shutdown(dctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close() // cutting off the requests still running: the error below says so
		return fmt.Errorf("shutdown: requests still running after %v were cut off", s.cfg.Drain)
	}
	_ = <-errc // Serve has returned (http.ErrServerClosed)
	return err
}
