package remote_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// A daemon (with a genuine site certificate) that answers a ranged read
// with another number of bytes than asked is refused: more bytes by the
// announced length, fewer by the body ending early. An erasure group
// then counts the member as failed for that stripe and reads around it.
func TestRangeLengthChecked(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), nil)
	sitePair := env.Issue(t, pki.Request{Role: pki.RoleSite, Name: "fake", Hosts: []string{"127.0.0.1"}})
	home := env.Issue(t, pki.Request{Role: pki.RoleHome, Name: "home"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	fake := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/properties" {
			w.Write([]byte(`{"name":"fake","connections":4}`))
			return
		}
		body := []byte("0123456789ab")
		switch mode {
		case "long": // announces and sends 12 bytes for a range of 10
		case "short": // announces 10, sends 4 and ends the response
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(body[:4])
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body)
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{sitePair}, CurvePreferences: pki.PQCurves,
		ClientAuth: tls.RequireAnyClientCert}}
	go fake.ServeTLS(ln, "", "")
	t.Cleanup(func() { fake.Close() })
	b, err := remote.NewWithTLS(t.Context(), remote.Config{Host: ln.Addr().String(), ExpectSite: "fake"}, env.TLS(&home))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := site.Handle{Kind: site.KindPack, Name: "p"}

	mode = "long"
	called := false
	err = b.Get(t.Context(), h, 0, 10, func(io.Reader) error { called = true; return nil })
	if err == nil || err.Error() != "get data/p: daemon sent 12 bytes for a range of 10" || called {
		t.Fatalf("12 bytes for a range of 10: err %v, reader handed out %v", err, called)
	}

	mode = "short"
	var got int
	err = b.Get(t.Context(), h, 0, 10, func(r io.Reader) error {
		var err error
		got, err = io.ReadFull(r, make([]byte, 10))
		return err
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) || got != 4 {
		t.Fatalf("4 of 10 bytes, then the end of the response: read %d, err %v, want 4 and io.ErrUnexpectedEOF", got, err)
	}
}
