// Package remote is a site.Backend for an embassy daemon (internal/server)
// reached over mutual TLS 1.3 with hybrid post-quantum key exchange. URLs
// are embassy://host:port or https://host:port, with the client identity
// in the query: ?ca=FILE&cert=FILE&key=FILE, or ?pki=DIR&id=NAME for
// DIR/ca.crt, DIR/NAME.crt and DIR/NAME.key.
package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/site"
)

// Config describes a daemon site.
type Config struct {
	Host         string // host:port
	Files        pki.Files
	Name         string
	Jurisdiction string
	Connections  int // 0: what the daemon advertises
	// ExpectSite is the name the daemon's site certificate must carry (the
	// site the home registered, or ?site=NAME in the URL); "" accepts any
	// site of the client's home. The role (site) and home are always checked.
	ExpectSite string
}

// ParseConfig parses a daemon URL.
func ParseConfig(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("parse site url: %w", err)
	}
	if u.Scheme != "embassy" && u.Scheme != "https" {
		return Config{}, fmt.Errorf("site url %q: want embassy://host:port", s)
	}
	if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.Fragment != "" {
		return Config{}, fmt.Errorf("site url %q: want embassy://host:port?pki=DIR&id=NAME", s)
	}
	q := u.Query()
	cfg := Config{Host: u.Host, ExpectSite: q.Get("site")}
	if cfg.ExpectSite != "" {
		if err := pki.ValidName(cfg.ExpectSite); err != nil {
			return Config{}, fmt.Errorf("site url: site: %w", err)
		}
	}
	switch {
	case q.Get("pki") != "":
		id := q.Get("id")
		if id == "" {
			id = "home"
		}
		if err := pki.ValidName(id); err != nil {
			return Config{}, fmt.Errorf("site url: id: %w", err)
		}
		d := q.Get("pki")
		cfg.Files = pki.Files{CA: filepath.Join(d, pki.CACertFile), Cert: filepath.Join(d, id+".crt"), Key: filepath.Join(d, id+".key")}
	case q.Get("ca") != "" && q.Get("cert") != "" && q.Get("key") != "":
		cfg.Files = pki.Files{CA: q.Get("ca"), Cert: q.Get("cert"), Key: q.Get("key")}
	default:
		return Config{}, fmt.Errorf("site url %q: name the client identity with ?pki=DIR&id=NAME or ?ca=&cert=&key=", s)
	}
	return cfg, nil
}

// Backend is a daemon site.
type Backend struct {
	base   string
	client *http.Client
	props  site.Properties
	tr     *http.Transport
	// getClient (over getTr) carries object GETs over HTTP/1.1.
	getClient *http.Client
	getTr     *http.Transport
	peer      atomic.Pointer[x509.Certificate] // the daemon's leaf, as last verified
}

var (
	_ site.Backend = (*Backend)(nil)
	_ site.Syncer  = (*Backend)(nil)
)

// New connects to the daemon and reads its properties.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	pair, pool, err := pki.TLSMaterial(cfg.Files)
	if err != nil {
		return nil, err
	}
	// The daemon trusts the CA that issued its own certificate: a client
	// certificate from another CA would only meet a bare "broken pipe".
	if pair.Leaf != nil {
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, site.Permanent(fmt.Errorf("client certificate %s was not issued by the CA %s, so the daemon would refuse it: %w", cfg.Files.Cert, cfg.Files.CA, err))
		}
	}
	return NewWithTLS(ctx, cfg, &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{pair},
		RootCAs:          pool,
		CurvePreferences: pki.PQCurves,
	})
}

// untrusted reports whether err is the daemon's certificate failing to
// chain to the CA the client trusts.
func untrusted(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// verifyDaemon checks the daemon's certificate beyond its chain: it must
// carry the site role, for the client's own home, and the expected name.
// A home or operator certificate of the same CA, or another site's, is
// refused: it could otherwise impersonate the daemon.
func verifyDaemon(cs tls.ConnectionState, home, expect string) (*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("the daemon presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	id, err := pki.Identify(leaf)
	switch {
	case err != nil:
		return nil, fmt.Errorf("the daemon's certificate: %w", err)
	case id.Role != pki.RoleSite:
		return nil, fmt.Errorf("the daemon presented a %s certificate (%s), not a site certificate", id.Role, id)
	case home != "" && id.Home != home:
		return nil, fmt.Errorf("the daemon's certificate is for home %q, not %q", id.Home, home)
	case expect != "" && id.Name != expect:
		return nil, fmt.Errorf("the daemon's certificate names site %q, the home registered %q (another site answered; if the certificate was issued under another name, add ?site=%s to the site URL)", id.Name, expect, id.Name)
	}
	return leaf, nil
}

// PeerCertificate returns the daemon's site certificate as verified on the
// last connection.
func (b *Backend) PeerCertificate() *x509.Certificate { return b.peer.Load() }

// NewWithTLS is New with a ready TLS configuration (tests).
func NewWithTLS(ctx context.Context, cfg Config, tc *tls.Config) (*Backend, error) {
	b := &Backend{}
	tc = tc.Clone()
	var home string
	if len(tc.Certificates) > 0 {
		leaf := tc.Certificates[0].Leaf
		if leaf == nil && len(tc.Certificates[0].Certificate) > 0 {
			leaf, _ = x509.ParseCertificate(tc.Certificates[0].Certificate[0])
		}
		if leaf != nil {
			if id, err := pki.Identify(leaf); err == nil {
				home = id.Home
			}
		}
	}
	prev := tc.VerifyConnection
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		leaf, err := verifyDaemon(cs, home, cfg.ExpectSite)
		if err != nil {
			return err
		}
		b.peer.Store(leaf)
		return nil
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 15 * time.Second,
		// A partition drops packets silently: without these, a request in
		// flight waits for the kernel to give up on TCP (about 15 minutes).
		DialContext: (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		HTTP2:       &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second, WriteByteTimeout: 30 * time.Second},
	}
	// Object GETs go over HTTP/1.1 connections of their own, with the same
	// TLS configuration (mutual TLS 1.3, the hybrid key exchange, the
	// daemon's identity checked by VerifyConnection). An HTTP/1.1 body is
	// read straight out of the TLS record into the caller's buffer; over
	// HTTP/2 every byte was also copied into the stream's data buffer and
	// out of it again, and framed and flow-controlled at both ends: most
	// of an erasure restore's bytes are these GETs. A stalled daemon is
	// cut off by TCP keep-alive probes (15 s idle, 3 probes 5 s apart)
	// where HTTP/2 had its pings.
	gtc := tc.Clone()
	gtc.NextProtos = []string{"http/1.1"}
	gtr := &http.Transport{
		TLSClientConfig:     gtc,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 15 * time.Second,
		DialContext: (&net.Dialer{Timeout: 15 * time.Second, KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}}).DialContext,
	}
	gtr.Protocols = new(http.Protocols)
	gtr.Protocols.SetHTTP1(true)
	b.base, b.client, b.tr = "https://"+cfg.Host, &http.Client{Transport: tr}, tr
	b.getClient, b.getTr = &http.Client{Transport: gtr}, gtr
	var p api.Properties
	if err := b.getJSON(ctx, "/v1/properties", &p); err != nil {
		tr.CloseIdleConnections()
		gtr.CloseIdleConnections()
		if untrusted(err) {
			ca := "the CA the home trusts for it"
			if cfg.Files.CA != "" {
				ca = "the CA " + cfg.Files.CA
			}
			name := cfg.Name
			if name == "" {
				name = "NAME"
			}
			return nil, site.Permanent(hint.Wrap(fmt.Errorf("daemon %s presents a certificate that %s did not issue", cfg.Host, ca),
				"have its operator install a site certificate from the home ('embassy pki issue --role site --name "+name+" --host HOST -o DIR'); "+
					"or, if it rightly has one from another CA, get that CA's certificate from the operator out of band and pin it in the URL with ?ca=FILE&cert=FILE&key=FILE"))
		}
		return nil, fmt.Errorf("connect to daemon %s: %w", cfg.Host, err)
	}
	b.props = site.Properties{
		Name: cfg.Name, Jurisdiction: cfg.Jurisdiction,
		Location: "embassy://" + cfg.Host, Connections: p.Connections, ObjectLock: p.ObjectLock,
	}
	if cfg.Connections > 0 {
		b.props.Connections = cfg.Connections
	}
	if b.props.Connections < 1 {
		b.props.Connections = 4
	}
	return b, nil
}

func (b *Backend) Properties() site.Properties { return b.props }

func (b *Backend) Close() error {
	b.tr.CloseIdleConnections()
	b.getTr.CloseIdleConnections()
	return nil
}

// responseError turns a failed response into an error wrapping the site's
// sentinels; the message is the daemon's user-safe one. The error reads
// "op h: daemon: ...", or "op: daemon: ..." when h is nil (op says it all).
func responseError(op string, h fmt.Stringer, resp *http.Response) error {
	if h != nil {
		op += " " + h.String()
	}
	var e api.Error
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = json.Unmarshal(body, &e) // not the daemon's JSON error: the status and body below say what came back
	msg := e.Message
	if msg == "" {
		msg = resp.Status
	}
	base := fmt.Errorf("%s: daemon: %s (%d)", op, msg, resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusNotFound:
		if e.Code == api.CodeNotFound {
			return fmt.Errorf("%s: %w", op, site.ErrNotFound)
		}
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%s: %w", op, site.ErrExists)
	case http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("%s: %w", op, site.ErrRange)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return base // worth retrying
	}
	return site.Permanent(base)
}

func (b *Backend) do(ctx context.Context, method, path string, body io.Reader, hd http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return nil, site.Permanent(err)
	}
	for k, v := range hd {
		req.Header[k] = v
	}
	return b.client.Do(req)
}

func (b *Backend) getJSON(ctx context.Context, path string, v any) error {
	resp, err := b.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError("GET", stringer(path), resp)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type stringer string

func (s stringer) String() string { return string(s) }

func check(ctx context.Context, h site.Handle) error {
	if err := h.Validate(); err != nil {
		return site.Permanent(err)
	}
	return ctx.Err()
}

func (b *Backend) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	if err := check(ctx, h); err != nil {
		return err
	}
	n := p.Len()
	if n < 0 {
		return site.Permanent(fmt.Errorf("put %v: negative payload length %d", h, n))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.base+api.ObjectPath(h), p.NewReader())
	if err != nil {
		return site.Permanent(err)
	}
	req.ContentLength = n
	if n == 0 {
		req.Body = http.NoBody
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(p.NewReader()), nil }
	if opts.IfAbsent {
		req.Header.Set("If-None-Match", "*")
	}
	if !opts.RetainUntil.IsZero() {
		req.Header.Set(api.HeaderRetainUntil, opts.RetainUntil.UTC().Format(time.RFC3339))
	}
	if opts.Deferred {
		req.Header.Set(api.HeaderDeferred, "1")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("put %v: %w", h, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return responseError("put", h, resp)
	}
	return nil
}

func (b *Backend) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	if err := check(ctx, h); err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("get %v: offset %d: %w", h, off, site.ErrRange)
	}
	hd := http.Header{}
	if off > 0 || n > 0 {
		r := "bytes=" + strconv.FormatInt(off, 10) + "-"
		if n > 0 {
			r += strconv.FormatInt(off+n-1, 10)
		}
		hd.Set("Range", r)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+api.ObjectPath(h), nil)
	if err != nil {
		return site.Permanent(err)
	}
	req.Header = hd
	resp, err := b.getClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %v: %w", h, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return responseError("get", h, resp)
	}
	if resp.ContentLength < 0 || (n > 0 && resp.ContentLength != n) {
		return fmt.Errorf("get %v: daemon sent %d bytes for a range of %d", h, resp.ContentLength, n)
	}
	// net/http reports a body shorter than Content-Length as
	// io.ErrUnexpectedEOF, so a daemon dying midway never looks complete.
	if err := fn(resp.Body); err != nil {
		return err
	}
	// A reader that took exactly the range has not seen the body's end:
	// reading it lets the HTTP/1.1 connection go back to the pool instead
	// of being closed (a TLS handshake per GET).
	_, _ = resp.Body.Read(make([]byte, 1))
	return nil
}

func (b *Backend) Stat(ctx context.Context, h site.Handle) (site.Info, error) {
	if err := check(ctx, h); err != nil {
		return site.Info{}, err
	}
	resp, err := b.do(ctx, http.MethodHead, api.ObjectPath(h), nil, nil)
	if err != nil {
		return site.Info{}, fmt.Errorf("stat %v: %w", h, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		switch resp.StatusCode { // HEAD responses have no body
		case http.StatusNotFound:
			return site.Info{}, fmt.Errorf("stat %v: %w", h, site.ErrNotFound)
		case http.StatusBadRequest, http.StatusForbidden:
			return site.Info{}, site.Permanent(fmt.Errorf("stat %v: daemon: %s", h, resp.Status))
		}
		return site.Info{}, fmt.Errorf("stat %v: daemon: %s", h, resp.Status)
	}
	mt, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(api.HeaderModTime))
	return site.Info{Handle: h, Size: resp.ContentLength, ModTime: mt}, nil
}

func (b *Backend) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	if err := (site.Handle{Kind: k, Name: "x"}).Validate(); err != nil {
		return site.Permanent(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	resp, err := b.do(ctx, http.MethodGet, api.ListPath(k), nil, nil)
	if err != nil {
		return fmt.Errorf("list %v: %w", k, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError("list", k, resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var count int64
	for sc.Scan() {
		var e api.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("list %v: bad line from daemon: %w", k, err)
		}
		if e.End {
			if e.Err != "" {
				return fmt.Errorf("list %v: daemon: %s", k, e.Err)
			}
			if e.Count != count {
				return fmt.Errorf("list %v: daemon sent %d entries, announced %d", k, count, e.Count)
			}
			return nil
		}
		count++
		h := site.Handle{Kind: k, Name: e.Name}
		if err := h.Validate(); err != nil {
			return fmt.Errorf("list %v: daemon sent a bad name: %w", k, err)
		}
		if err := fn(site.Info{Handle: h, Size: e.Size, ModTime: e.ModTime}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("list %v: %w", k, err)
	}
	return fmt.Errorf("list %v: listing ended early (%d entries): %w", k, count, io.ErrUnexpectedEOF)
}

func (b *Backend) Delete(ctx context.Context, h site.Handle) error {
	if err := check(ctx, h); err != nil {
		return err
	}
	resp, err := b.do(ctx, http.MethodDelete, api.ObjectPath(h), nil, nil)
	if err != nil {
		return fmt.Errorf("delete %v: %w", h, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return responseError("delete", h, resp)
	}
	return nil
}

// Sync asks the daemon to make deferred writes durable.
func (b *Backend) Sync(ctx context.Context) error {
	resp, err := b.do(ctx, http.MethodPost, "/v1/sync", nil, nil)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return responseError("sync", stringer("site"), resp)
	}
	return nil
}

// Prove sends a challenge and returns the daemon's decoded response; check
// it with proof.Verify.
func (b *Backend) Prove(ctx context.Context, c proof.Challenge) (proof.Response, error) {
	body, err := c.MarshalJSON()
	if err != nil {
		return proof.Response{}, err
	}
	resp, err := b.do(ctx, http.MethodPost, "/v1/prove", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return proof.Response{}, fmt.Errorf("prove: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return proof.Response{}, responseError("prove", stringer(fmt.Sprintf("%d objects", len(c.Objects))), resp)
	}
	return proof.ReadResponse(resp.Body, c)
}

// Health calls GET /healthz.
func (b *Backend) Health(ctx context.Context) error {
	var v map[string]any
	return b.getJSON(ctx, "/healthz", &v)
}

// ConnectionState reports the TLS state of a fresh request to the daemon,
// for checking the negotiated key exchange.
func (b *Backend) ConnectionState(ctx context.Context) (*tls.ConnectionState, error) {
	resp, err := b.do(ctx, http.MethodGet, "/healthz", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // drained for connection reuse; the body says nothing
	if resp.TLS == nil {
		return nil, errors.New("not a TLS connection")
	}
	return resp.TLS, nil
}
