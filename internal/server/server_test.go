package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

func httpClient(tc *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
}

func TestHandshakeRefusals(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), nil)
	other, err := pki.Init(filepath.Join(t.TempDir(), "other"), "hother", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.Issue(pki.Request{Role: pki.RoleHome, Name: "home"})
	foreignPair, _ := tls.X509KeyPair(foreign.CertPEM, foreign.KeyPEM)

	past := env.CA.Now
	env.CA.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	old, _ := env.CA.Issue(pki.Request{Role: pki.RoleHome, Name: "old", Lifetime: time.Hour})
	env.CA.Now = past
	expiredPair, _ := tls.X509KeyPair(old.CertPEM, old.KeyPEM)
	sitePair := env.Issue(t, pki.Request{Role: pki.RoleSite, Name: "impostor", Hosts: []string{"127.0.0.1"}})

	for _, tc := range []struct {
		name string
		pair *tls.Certificate
	}{
		{"other CA", &foreignPair},
		{"expired", &expiredPair},
		{"no certificate", nil},
		{"site certificate as client", &sitePair},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := httpClient(env.TLS(tc.pair)).Get("https://" + env.Addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got %s, want a refused handshake", resp.Status)
			}
		})
	}
	ok := env.Client(t, pki.RoleOperator, "ops")
	if err := ok.Health(t.Context()); err != nil {
		t.Fatalf("operator health: %v", err)
	}
}

func TestRoles(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), nil)
	home := env.Client(t, pki.RoleHome, "home")
	h := site.Handle{Kind: site.KindIndex, Name: "obj"}
	if err := home.Put(t.Context(), h, site.Bytes("secret"), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	auditor := env.Client(t, pki.RoleAuditor, "audit")
	if _, err := site.ReadAll(t.Context(), auditor, h); err != nil {
		t.Errorf("auditor Get: %v", err)
	}
	err := auditor.Put(t.Context(), site.Handle{Kind: site.KindIndex, Name: "x"}, site.Bytes("x"), site.PutOptions{})
	if want := "put index/x: daemon: role auditor may not store objects (403)"; err == nil || err.Error() != want || !site.IsPermanent(err) {
		t.Errorf("auditor Put: got %v, want a permanent %q", err, want)
	}
	if err := auditor.Delete(t.Context(), h); err == nil {
		t.Error("auditor Delete succeeded")
	}
	opPair := env.Issue(t, pki.Request{Role: pki.RoleOperator, Name: "ops"})
	op := httpClient(env.TLS(&opPair))
	for _, tc := range []struct {
		method, path string
		want         int
		refusal      string // the 403 body's message, what the operator reads
	}{
		{"GET", "/v1/objects/index/obj", 403, "role operator may not read objects"},
		{"HEAD", "/v1/objects/index/obj", 403, ""}, // a HEAD answer has no body
		{"GET", "/v1/list/index", 403, "role operator may not list objects"},
		{"POST", "/v1/prove", 403, "role operator may not ask for storage proofs"},
		{"DELETE", "/v1/objects/index/obj", 403, "role operator may not delete objects"},
		{"POST", "/v1/capacity", 403, "role operator may not read capacity"},
		{"POST", "/v1/exit/certificate", 403, "role operator may not ask for an exit certificate"},
		{"PUT", "/v1/crl", 403, "role operator may not push a CRL"},
		{"GET", "/healthz", 200, ""},
		{"GET", "/metrics", 200, ""},
		{"GET", "/v1/events", 200, ""},
	} {
		req, _ := http.NewRequest(tc.method, "https://"+env.Addr+tc.path, nil)
		resp, err := op.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("operator %s %s: got %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
		if tc.want == 403 && tc.method != "HEAD" {
			var e api.Error
			if err := json.Unmarshal(body, &e); err != nil || e != (api.Error{Code: api.CodeForbidden, Message: tc.refusal}) {
				t.Errorf("operator %s %s: body %q, want message %q", tc.method, tc.path, body, tc.refusal)
			}
		}
		if bytes.Contains(body, []byte("secret")) {
			t.Errorf("operator %s %s: response holds object bytes", tc.method, tc.path)
		}
	}
	m := metricstest.Scrape(t, op, "https://"+env.Addr+"/metrics")
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"embassy_requests_total", []string{"route", "put", "code", "201", "role", "home"}, 1},
		{"embassy_requests_total", []string{"route", "get", "code", "403", "role", "operator"}, 1},
		{"embassy_tls_handshakes_total", []string{"group", "X25519MLKEM768"}, -2},
		{"embassy_inflight_requests", nil, -2},
	} {
		got := m.Value(tc.name, tc.labels...)
		if got < 0 || (tc.want >= 0 && got != tc.want) {
			t.Errorf("%s%v = %v, want %v (-2: any)", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), &server.Config{MaxBody: 1000})
	pair := env.Issue(t, pki.Request{Role: pki.RoleHome, Name: "home"})
	c := httpClient(env.TLS(&pair))
	base := "https://" + env.Addr
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		want               int
	}{
		{"bad kind", "GET", "/v1/objects/nope/x", nil, "", 400},
		{"hidden name", "PUT", "/v1/objects/data/a/.x", nil, "x", 400},
		{"upper case", "GET", "/v1/objects/data/ABC", nil, "", 400},
		{"dot dot", "GET", "/v1/objects/data/a/%2e%2e/b", nil, "", 400},
		{"bad range", "GET", "/v1/objects/data/x", map[string]string{"Range": "bytes=5-1"}, "", 400},
		{"multi range", "GET", "/v1/objects/data/x", map[string]string{"Range": "bytes=0-1,3-4"}, "", 400},
		{"bad if-none-match", "PUT", "/v1/objects/data/x", map[string]string{"If-None-Match": "abc"}, "x", 400},
		{"bad retain", "PUT", "/v1/objects/data/x", map[string]string{"Embassy-Retain-Until": "soon"}, "x", 400},
		{"oversized", "PUT", "/v1/objects/data/big", nil, strings.Repeat("x", 2000), 413},
		{"bad prove json", "POST", "/v1/prove", nil, `{"version":1,"nonce":"zz"}`, 400},
		{"prove unknown field", "POST", "/v1/prove", nil, `{"version":1,"extra":1}`, 400},
		{"unknown path", "GET", "/v2/x", nil, "", 404},
		{"list bad kind", "GET", "/v1/list/nope", nil, "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, base+tc.path, body)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("got %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	b := env.Client(t, pki.RoleHome, "home2")
	if _, err := b.Stat(t.Context(), site.Handle{Kind: site.KindPack, Name: "big"}); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("oversized object: Stat got %v, want not found", err)
	}
}

// gate is a payload that blocks after half its bytes until released.
type gate struct {
	n       int64
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate(n int64) *gate {
	return &gate{n: n, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) Len() int64 { return g.n }
func (g *gate) NewReader() io.Reader {
	return io.MultiReader(bytes.NewReader(make([]byte, g.n/2)), readerFunc(func(p []byte) (int, error) {
		g.once.Do(func() { close(g.reached) })
		<-g.release
		return 0, io.EOF
	}), bytes.NewReader(make([]byte, g.n-g.n/2)))
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// waitIdle waits until the daemon serves no request.
func waitIdle(t *testing.T, c *http.Client, base string) { waitInflight(t, c, base, 0) }

// waitInflight waits until the daemon serves n requests.
func waitInflight(t *testing.T, c *http.Client, base string, n int) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := c.Get(base + "/metrics")
		if err == nil {
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(m), fmt.Sprintf("embassy_inflight_requests %d\n", n)) {
				return
			}
		}
		if i > 2000 {
			t.Fatal("daemon never became idle")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientDisconnectsMidUpload(t *testing.T) {
	b := mem.New(site.Properties{})
	env := servertest.Start(t, b, nil)
	pair := env.Issue(t, pki.Request{Role: pki.RoleHome, Name: "home"})
	h := site.Handle{Kind: site.KindPack, Name: "partial"}
	ctx, cancel := context.WithCancel(t.Context())
	rb, err := remote.NewWithTLS(ctx, remote.Config{Host: env.Addr}, env.TLS(&pair))
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(4 << 20)
	errc := make(chan error, 1)
	go func() { errc <- rb.Put(ctx, h, g, site.PutOptions{IfAbsent: true}) }()
	<-g.reached
	cancel() // the client goes away with half the body sent
	close(g.release)
	if err := <-errc; err == nil {
		t.Fatal("canceled upload succeeded")
	}
	waitIdle(t, httpClient(env.TLS(&pair)), "https://"+env.Addr)
	if _, err := b.Stat(t.Context(), h); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("after a client disconnect: Stat got %v, want not found", err)
	}
}

func TestDaemonKilledMidTransfer(t *testing.T) {
	b := mem.New(site.Properties{})
	env := servertest.Start(t, b, &server.Config{Drain: time.Nanosecond})
	home := env.Client(t, pki.RoleHome, "home")
	big := site.Handle{Kind: site.KindPack, Name: "big"}
	if err := home.Put(t.Context(), big, site.Bytes(make([]byte, 8<<20)), site.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	h := site.Handle{Kind: site.KindPack, Name: "upload"}
	g := newGate(4 << 20)
	errc := make(chan error, 1)
	go func() { errc <- home.Put(t.Context(), h, g, site.PutOptions{IfAbsent: true}) }()
	<-g.reached
	getc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		getc <- home.Get(t.Context(), big, 0, 0, func(r io.Reader) error {
			var buf [1024]byte
			if _, err := io.ReadFull(r, buf[:]); err != nil {
				return err
			}
			close(started)
			_, err := io.Copy(io.Discard, readerFunc(func(p []byte) (int, error) { // read slowly
				time.Sleep(time.Millisecond)
				return r.Read(p[:min(len(p), 4096)])
			}))
			return err
		})
	}()
	<-started
	env.Stop() // drain of 1ns: the daemon cuts every connection, as if killed
	<-env.Done
	env.Done <- nil // for the cleanup
	close(g.release)
	if err := <-errc; err == nil {
		t.Error("upload through a killed daemon succeeded")
	} else {
		t.Logf("upload error: %v", err)
	}
	if err := <-getc; err == nil {
		t.Error("download from a killed daemon looked complete")
	} else {
		t.Logf("download error: %v", err)
	}
	if _, err := b.Stat(t.Context(), h); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("after the daemon died: Stat got %v, want not found", err)
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	b := mem.New(site.Properties{})
	env := servertest.Start(t, b, &server.Config{Drain: time.Minute})
	home := env.Client(t, pki.RoleHome, "home")
	h := site.Handle{Kind: site.KindPack, Name: "drained"}
	g := newGate(1 << 20)
	errc := make(chan error, 1)
	go func() { errc <- home.Put(t.Context(), h, g, site.PutOptions{IfAbsent: true}) }()
	<-g.reached
	opPair := env.Issue(t, pki.Request{Role: pki.RoleOperator, Name: "ops"})
	waitInflight(t, httpClient(env.TLS(&opPair)), "https://"+env.Addr, 1)
	env.Stop()
	close(g.release)
	if err := <-errc; err != nil {
		t.Errorf("in-flight upload during shutdown: %v", err)
	}
	if err := <-env.Done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	env.Done <- nil // for the cleanup
	if fi, err := b.Stat(t.Context(), h); err != nil || fi.Size != 1<<20 {
		t.Errorf("drained upload: %v, %v", fi, err)
	}
}

func TestMisbehavingClientDoesNotStarveOthers(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), &server.Config{PerClient: 2})
	greedyPair := env.Issue(t, pki.Request{Role: pki.RoleHome, Name: "greedy"})
	greedy := httpClient(env.TLS(&greedyPair))
	var gates []*gate
	var wg sync.WaitGroup
	for i := range 2 {
		g := newGate(1 << 20)
		gates = append(gates, g)
		req, _ := http.NewRequest("PUT", fmt.Sprintf("https://%s/v1/objects/data/slow%d", env.Addr, i), g.NewReader())
		req.ContentLength = g.n
		wg.Go(func() {
			if resp, err := greedy.Do(req); err == nil {
				resp.Body.Close()
			}
		})
		<-g.reached
	}
	waitFor := func() int {
		for i := 0; ; i++ {
			req, _ := http.NewRequest("GET", "https://"+env.Addr+"/v1/list/data", nil)
			resp, err := greedy.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests || i > 200 {
				return resp.StatusCode
			}
			time.Sleep(5 * time.Millisecond) // the uploads may not hold their slots yet
		}
	}
	if code := waitFor(); code != http.StatusTooManyRequests {
		t.Errorf("third request of a client at its limit: got %d, want 429", code)
	}
	other := env.Client(t, pki.RoleHome, "polite")
	if err := other.Put(t.Context(), site.Handle{Kind: site.KindIndex, Name: "fine"}, site.Bytes("ok"), site.PutOptions{}); err != nil {
		t.Errorf("another client while one is at its limit: %v", err)
	}
	for _, g := range gates {
		close(g.release)
	}
	wg.Wait()
}
