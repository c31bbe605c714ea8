package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
)

type identities struct {
	dir, home string
	site      pki.Files
	client    tls.Certificate
	ca        *pki.CA
}

func newIdentities(t *testing.T) *identities {
	t.Helper()
	dir := t.TempDir()
	id := &identities{dir: dir, home: "0123456789abcdef0123456789abcdef"}
	ca, err := pki.Init(filepath.Join(dir, "ca"), id.home, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id.ca = ca
	s, err := ca.Issue(pki.Request{Role: pki.RoleSite, Name: "lu", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(filepath.Join(dir, "site"), "lu", ca.Cert); err != nil {
		t.Fatal(err)
	}
	id.site = pki.Files{CA: filepath.Join(dir, "site", pki.CACertFile), Cert: filepath.Join(dir, "site", "lu.crt"), Key: filepath.Join(dir, "site", "lu.key")}
	h, err := ca.Issue(pki.Request{Role: pki.RoleHome, Name: "home"})
	if err != nil {
		t.Fatal(err)
	}
	id.client, err = tls.X509KeyPair(h.CertPEM, h.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (id *identities) options(store string) Options {
	return Options{Listen: "127.0.0.1:0", Store: store, CA: id.site.CA, Cert: id.site.Cert, Key: id.site.Key, Create: true, Drain: time.Second}
}

func (id *identities) httpClient(t *testing.T, pair tls.Certificate) *http.Client {
	t.Helper()
	_, pool, err := pki.TLSMaterial(id.site)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(pair, pool, id.home, "lu")}}
}

// TestRunServesAndStops: Run opens (creates) the store, serves the API
// over mutual TLS to the home's certificates only, serves the host's
// witness on its own listener, and returns nil once its context ends.
func TestRunServesAndStops(t *testing.T) {
	id := newIdentities(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.invalid/log")
	if err != nil || skey == "" {
		t.Fatal(err)
	}
	o := id.options(filepath.Join(id.dir, "store"))
	o.WitnessListen, o.WitnessDir, o.WitnessLogs, o.WitnessPlainHTTP = "127.0.0.1:0", filepath.Join(id.dir, "witness"), []string{vkey}, true
	lg := newRecLog() // cover_helpers_test.go: hands over each bound address
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, o, slog.New(lg)) }()
	addr := lg.wait(t, "embassy daemon", errc)
	waddr := lg.wait(t, "witness", errc)

	hc := id.httpClient(t, id.client)
	resp, err := hc.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	if fi, err := os.Stat(o.Store); err != nil || !fi.IsDir() {
		t.Fatalf("the store was not created: %v", err)
	}

	// A certificate of another home's CA is refused at the handshake.
	other, err := pki.Init(filepath.Join(id.dir, "other-ca"), "fedcba9876543210fedcba9876543210", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	oh, _ := other.Issue(pki.Request{Role: pki.RoleHome, Name: "home"})
	opair, _ := tls.X509KeyPair(oh.CertPEM, oh.KeyPEM)
	if resp, err := id.httpClient(t, opair).Get("https://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a foreign home's certificate got %d", resp.StatusCode)
	}

	// The witness answers the C2SP protocol: a checkpoint of an unknown
	// log is refused with 404, not served or cosigned.
	wresp, err := http.Post("http://"+waddr+"/add-checkpoint", "text/plain", strings.NewReader("old 0\n\nexample.invalid/other\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— x AAAA\n"))
	if err != nil {
		t.Fatal(err)
	}
	wresp.Body.Close()
	if wresp.StatusCode < 400 || wresp.StatusCode >= 500 {
		t.Fatalf("witness accepted a checkpoint of an unknown log: %d", wresp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(o.WitnessDir)); err != nil {
		t.Fatalf("witness dir: %v", err)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run after its context ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context ending")
	}
}

// TestRunRefuses: what Run refuses before serving, each with the reason
// and, where there is one, the way out.
func TestRunRefuses(t *testing.T) {
	id := newIdentities(t)
	h, _ := id.ca.Issue(pki.Request{Role: pki.RoleHome, Name: "not-a-site"})
	h.Save(filepath.Join(id.dir, "home"), "home", id.ca.Cert)
	short, _ := id.ca.Issue(pki.Request{Role: pki.RoleSite, Name: "short", Lifetime: time.Nanosecond})
	short.Save(filepath.Join(id.dir, "short"), "short", id.ca.Cert)
	_, vkey, _ := note.GenerateKey(rand.Reader, "example.invalid/log")
	for _, tc := range []struct {
		name  string
		edit  func(o *Options)
		want  string
		usage bool
	}{
		{"home certificate as site", func(o *Options) {
			o.Cert, o.Key = filepath.Join(id.dir, "home", "home.crt"), filepath.Join(id.dir, "home", "home.key")
		}, "is not a site certificate", false},
		{"expired", func(o *Options) {
			o.Cert, o.Key = filepath.Join(id.dir, "short", "short.crt"), filepath.Join(id.dir, "short", "short.key")
		}, "site certificate expired", false},
		{"missing store", func(o *Options) { o.Create = false; o.Store = filepath.Join(id.dir, "nostore") }, "does not exist", false},
		{"bad address", func(o *Options) { o.Listen = "127.0.0.1:-1" }, "invalid port", false},
		{"witness without dir", func(o *Options) { o.WitnessListen = "127.0.0.1:0"; o.WitnessLogs = []string{vkey} }, "--witness-dir", true},
		{"witness without logs", func(o *Options) { o.WitnessListen = "127.0.0.1:0"; o.WitnessDir = t.TempDir() }, "--witness-log", true},
		{"witness bad log key", func(o *Options) {
			o.WitnessListen, o.WitnessDir, o.WitnessLogs = "127.0.0.1:0", t.TempDir(), []string{"not a key"}
		}, "malformed verifier", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := id.options(filepath.Join(t.TempDir(), "store"))
			tc.edit(&o)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := Run(ctx, o, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
			if (hint.CodeOf(err) == hint.CodeUsage) != tc.usage {
				t.Fatalf("usage code %v for %v", hint.CodeOf(err) == hint.CodeUsage, err)
			}
		})
	}
}
