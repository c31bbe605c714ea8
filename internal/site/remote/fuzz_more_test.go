package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/site"
)

// hostileDaemon answers every request but /v1/properties with whatever
// the fuzzer chose: status, Content-Length (or none) and body.
type hostileDaemon struct {
	mu     sync.Mutex
	status int
	length string // "" omits Content-Length (chunked)
	body   []byte
}

func (d *hostileDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/properties" {
		w.Write([]byte(`{"name":"lu","connections":2}`))
		return
	}
	d.mu.Lock()
	status, length, body := d.status, d.length, d.body
	d.mu.Unlock()
	if length != "" {
		w.Header().Set("Content-Length", length)
	}
	w.WriteHeader(status)
	w.Write(body)
}

// FuzzHostileDaemon: a daemon is the host's; every answer it gives the
// remote client (listings, reads, stats, events, exit certificates,
// proof responses, errors) is refused or returned sanely, never a panic:
// listed handles validate, a ranged read never yields more than asked;
// errors stay errors.
func FuzzHostileDaemon(f *testing.F) {
	d := &hostileDaemon{status: 200}
	// The hostile daemon holds a genuine site certificate of the home's CA
	// (the host runs the site): the client's identity checks pass, and
	// every answer after that is the fuzzer's.
	ca, err := pki.Init(f.TempDir(), "h0123456789abcdef0123", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	pair := func(req pki.Request) tls.Certificate {
		is, err := ca.Issue(req)
		if err != nil {
			f.Fatal(err)
		}
		p, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		if err != nil {
			f.Fatal(err)
		}
		return p
	}
	srv := httptest.NewUnstartedServer(d)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair(pki.Request{Role: pki.RoleSite, Name: "lu", Hosts: []string{"127.0.0.1"}})},
		CurvePreferences: pki.PQCurves, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	f.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	home := pair(pki.Request{Role: pki.RoleHome, Name: "home"})
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{home}, CurvePreferences: pki.PQCurves}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	f.Cleanup(cancel)
	b, err := NewWithTLS(ctx, Config{Host: strings.TrimPrefix(srv.URL, "https://"), Name: "lu"}, tc)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })

	f.Add(200, "", []byte(`{"name":"data/ab","size":3}`+"\n"+`{"end":true,"count":1}`+"\n"))
	f.Add(200, "", []byte(`{"name":"../../etc/passwd"}`+"\n"+`{"end":true,"count":1}`+"\n"))
	f.Add(200, "", []byte(`{"end":true,"count":5}`+"\n"))
	f.Add(200, "", []byte(`[{"time":"2026-01-01T00:00:00Z","kind":"login"}]`))
	f.Add(200, "", []byte(`{"body":{"format":"x"},"sig":"AA=="}`))
	f.Add(206, "10", []byte("0123456789"))
	f.Add(200, "-1", []byte("x"))
	f.Add(404, "", []byte(`{"code":"not_found","message":"no"}`))
	f.Add(500, "", bytes.Repeat([]byte("e"), 5000))
	h := site.Handle{Kind: site.KindPack, Name: "ab/" + strings.Repeat("cd", 32)}
	f.Fuzz(func(t *testing.T, status int, length string, body []byte) {
		if status < 200 || status > 599 || status == 204 || status == 304 || (status >= 100 && status < 200) {
			return
		}
		if length != "" {
			if n, err := strconv.Atoi(length); err != nil || n < 0 || n != len(body) {
				length = "" // net/http refuses to send a lying length: the server side, not the client, would fail
			}
		}
		d.mu.Lock()
		d.status, d.length, d.body = status, length, body
		d.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		b.List(ctx, site.KindPack, func(fi site.Info) error {
			if err := fi.Handle.Validate(); err != nil || fi.Handle.Kind != site.KindPack {
				t.Fatalf("listing yielded handle %v: %v", fi.Handle, err)
			}
			return nil
		})
		var got int
		err := b.Get(ctx, h, 2, 4, func(r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			got = int(n)
			return err
		})
		if err == nil && got > 4 {
			t.Fatalf("a read of 4 bytes returned %d", got)
		}
		b.Stat(ctx, h) // a HEAD without Content-Length gives size -1: see docs/threats/ci.md
		if evs, err := b.Events(ctx); err == nil && evs == nil && status == 200 && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("null")) {
			t.Fatalf("events: no error and no events for %q", body)
		}
		if c, err := b.ExitCertificate(ctx, "ab12"); err == nil && c == nil {
			t.Fatal("exit certificate: no error and no certificate")
		}
		b.Prove(ctx, proof.Challenge{})
		b.Health(ctx)
	})
}
