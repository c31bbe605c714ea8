package witness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
)

// Prober measures round trips from the witness to the home's sites on the
// home's request (POST /rtt) and signs what it measured, so that the home
// can bound how far a site is from this witness (internal/locate). Each
// sample is one TLS 1.3 handshake with the site's daemon: the time from the
// witness's ClientHello to the site's CertificateVerify and Finished, which
// only the holder of the site certificate's key can produce. The daemon
// then refuses the witness (it has no client certificate); that costs the
// daemon one aggregated handshake refusal per sample.
type Prober struct {
	Signer  note.Signer    // RTTSigner: the witness's Ed25519 key, plain signatures
	Roots   *x509.CertPool // the home CA
	Home    string         // the home the site certificate must belong to
	Timeout time.Duration  // per sample; 0: 5s
	Now     func() time.Time
	sem     chan struct{}
}

// RTTSigner is the witness's Ed25519 key (dir/ed25519.key) as a plain
// note signer: RTT answers are signed over their own context, which no
// checkpoint can have (locate.RTTVerifier reads the cosignature key).
func RTTSigner(dir string) (note.Signer, error) {
	b, err := os.ReadFile(filepath.Join(dir, Ed25519+".key"))
	if err != nil {
		return nil, err
	}
	return note.NewSigner(strings.TrimSpace(string(b)))
}

// Measure takes req.Samples handshakes with the site and returns the
// signed measurement.
func (p *Prober) Measure(ctx context.Context, req locate.RTTRequest) (locate.Signed, error) {
	if err := req.Validate(); err != nil {
		return locate.Signed{}, err
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	host, _, err := net.SplitHostPort(req.Addr)
	if err != nil {
		return locate.Signed{}, fmt.Errorf("site address %q: %w", req.Addr, err)
	}
	out := locate.RTT{Format: locate.RTTFormat, Witness: p.Signer.Name(), Site: req.Site, Addr: req.Addr, Nonce: req.Nonce}
	for range req.Samples {
		rtt, digest, err := p.sample(ctx, req, host, timeout)
		if err != nil {
			return locate.Signed{}, err
		}
		if out.SiteCert != "" && digest != out.SiteCert {
			return locate.Signed{}, errors.New("the site answered with two different certificates")
		}
		out.SiteCert = digest
		out.Samples = append(out.Samples, int64(rtt))
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	out.Time = now().UTC()
	return locate.SignRTT(out, p.Signer)
}

func (p *Prober) sample(ctx context.Context, req locate.RTTRequest, host string, timeout time.Duration) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", req.Addr)
	if err != nil {
		return 0, "", fmt.Errorf("site %s: %w", req.Site, err)
	}
	defer conn.Close()
	var digest string
	tw := &firstWrite{Conn: conn}
	tc := tls.Client(tw, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: p.Roots, ServerName: host, CurvePreferences: pki.PQCurves,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := pki.PeerCheck{Home: p.Home, Roles: []pki.Role{pki.RoleSite}}.Check(cs)
			if err != nil {
				return err
			}
			if id.Name != req.Site {
				return fmt.Errorf("the server is site %q, not %q", id.Name, req.Site)
			}
			digest = locate.CertDigest(cs.PeerCertificates[0].Raw)
			return nil
		}})
	// The clock starts when the ClientHello is written (after the client's
	// key shares are made) and stops when the handshake returns: the
	// client's Finished follows the server's CertificateVerify, so the
	// site's key has answered this ClientHello.
	if err := tc.HandshakeContext(ctx); err != nil {
		return 0, "", fmt.Errorf("site %s: TLS handshake: %w", req.Site, err)
	}
	return time.Since(tw.at), digest, nil
}

// firstWrite notes when the first byte (the ClientHello) is written.
type firstWrite struct {
	net.Conn
	at time.Time
}

func (f *firstWrite) Write(p []byte) (int, error) {
	if f.at.IsZero() {
		f.at = time.Now()
	}
	return f.Conn.Write(p)
}

// WithRTT serves POST /rtt from p in front of h (the witness handler).
// Only a caller with a client certificate reaches it (mutual TLS with the
// home's CA); one measurement runs at a time so probes do not skew
// each other.
func WithRTT(h http.Handler, p *Prober) http.Handler {
	p.sem = make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("POST /rtt", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "round-trip measurements are for the home's certificates only", http.StatusForbidden)
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, locate.MaxSigned+1))
		if err != nil {
			http.Error(w, "read request", http.StatusBadRequest)
			return
		}
		req, err := locate.ParseRTTRequest(b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case p.sem <- struct{}{}:
			defer func() { <-p.sem }()
		case <-r.Context().Done():
			return
		}
		signed, err := p.Measure(r.Context(), req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(signed)
	})
	return mux
}
