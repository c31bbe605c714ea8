package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// unknownCheckpoint is an add-checkpoint request for a log the witness
// does not witness.
const unknownCheckpoint = "old 0\n\nexample.invalid/other\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— x AAAA\n"

// countingClient is an HTTPS client for pair whose TCP dials are counted,
// to show that a request went over a connection opened earlier.
func (id *identities) countingClient(t *testing.T, pair tls.Certificate, dials *atomic.Int32) *http.Client {
	t.Helper()
	c := id.httpClient(t, pair)
	tr := c.Transport.(*http.Transport)
	d := &net.Dialer{Timeout: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	return c
}

func post(t *testing.T, c *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestCoverWitnessMutualTLSAndHostView: by default the witness is served
// over mutual TLS for home certificates of the home CA only. An operator
// certificate is refused at the handshake (logged, and an access event
// the home pulls); a home certificate revoked while its connection is
// open is refused on its next request (403), also recorded. The
// dashboard next to the daemon serves its read-only view to the home's
// certificates and refuses writes.
func TestCoverWitnessMutualTLSAndHostView(t *testing.T) {
	id := newIdentities(t)
	_, logKey, err := note.GenerateKey(rand.Reader, "example.invalid/log")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	o := id.options(filepath.Join(root, "store"))
	o.CRL = filepath.Join(root, "crl.pem")
	o.WitnessListen, o.WitnessDir, o.WitnessLogs = "127.0.0.1:0", filepath.Join(root, "witness"), []string{logKey}
	o.UIListen = "127.0.0.1:0"
	d := startDaemon(t, o, "witness", "host view")
	waddr, uiaddr := d.addrs["witness"], d.addrs["host view"]
	ctx := t.Context()

	wrec := d.log.find("witness")
	if len(wrec) != 1 {
		t.Fatalf("%d witness records", len(wrec))
	}
	wvkey := wrec[0].attrs["vkey"]
	if want := fmt.Sprintf("witness lu-witness %s https://%s", wvkey, waddr); !strings.HasPrefix(wvkey, "lu-witness+") || wrec[0].attrs["policy_line"] != want {
		t.Fatalf("witness record %v, want vkey lu-witness+… and policy_line %q", wrec[0], want)
	}

	homeFiles, homePair := id.issue(t, pki.RoleHome, "home2")
	home, err := remote.New(ctx, remote.Config{Host: d.addr, Files: homeFiles, ExpectSite: "lu"})
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()

	// A home certificate reaches the witness, which refuses a checkpoint
	// of a log it does not witness.
	_, pair3 := id.issue(t, pki.RoleHome, "home3")
	var dials atomic.Int32
	c3 := id.countingClient(t, pair3, &dials)
	status, body := post(t, c3, "https://"+waddr+"/add-checkpoint", unknownCheckpoint)
	if status != http.StatusNotFound || body != "unknown log\n" {
		t.Fatalf("unknown log: %d %q, want 404 \"unknown log\\n\"", status, body)
	}

	// An operator certificate is no witness client.
	_, opsPair := id.issue(t, pki.RoleOperator, "ops")
	if resp, err := id.httpClient(t, opsPair).Post("https://"+waddr+"/add-checkpoint", "text/plain", strings.NewReader(unknownCheckpoint)); err == nil {
		resp.Body.Close()
		t.Fatalf("an operator certificate reached the witness: %d", resp.StatusCode)
	}
	opsID := "spiffe://" + id.home + "/role/operator/ops"
	refused := d.log.find("witness: client refused")
	if len(refused) != 1 || refused[0].level != slog.LevelWarn || refused[0].attrs["identity"] != opsID ||
		refused[0].attrs["err"] != "a certificate of role operator may not connect here" {
		t.Fatalf("refusal records %v", refused)
	}

	// home3 is revoked while its connection is open: the next request on
	// it is refused.
	c3cert, err := pki.LoadCert(filepath.Join(id.dir, "issued-home3", "home3.crt"))
	if err != nil {
		t.Fatal(err)
	}
	_, crl, err := id.ca.Revoke(filepath.Join(id.dir, "ca"), c3cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := home.PutCRL(ctx, crl); err != nil {
		t.Fatal(err)
	}
	status, body = post(t, c3, "https://"+waddr+"/add-checkpoint", unknownCheckpoint)
	if status != http.StatusForbidden || body != "certificate revoked\n" || dials.Load() != 1 {
		t.Fatalf("revoked on an open connection: %d %q after %d dials, want 403 \"certificate revoked\\n\" on the one connection", status, body, dials.Load())
	}

	evs, err := home.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(e api.Event) bool {
		return e.Kind == "denied" && e.Identity == opsID && e.Role == "operator" && e.Detail == "witness: a certificate of role operator may not connect here"
	}) {
		t.Errorf("no witness refusal of the operator in %+v", evs)
	}
	home3ID := "spiffe://" + id.home + "/role/home/home3"
	if !slices.ContainsFunc(evs, func(e api.Event) bool {
		return e.Kind == "denied" && e.Identity == home3ID && e.Role == "home" && strings.HasPrefix(e.Remote, "127.0.0.1:") &&
			e.Detail == fmt.Sprintf("witness: certificate revoked: serial %x (CRL 1)", c3cert.SerialNumber)
	}) {
		t.Errorf("no witness refusal of the revoked home3 in %+v", evs)
	}

	// The host view: read-only, for the home PKI's client certificates.
	uc := id.httpClient(t, homePair)
	resp, err := uc.Get("https://" + uiaddr + "/api/host")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(string(hb), "{") {
		t.Fatalf("host view: %d %q %q", resp.StatusCode, resp.Header.Get("Cache-Control"), hb)
	}
	status, body = post(t, uc, "https://"+uiaddr+"/api/host", "{}")
	if want := `{"error": "the host-side view is read-only: nothing changes through it"}` + "\n"; status != http.StatusMethodNotAllowed || body != want {
		t.Fatalf("write to the host view: %d %q, want 405 %q", status, body, want)
	}
	if resp, err := id.httpClient(t, pair3).Get("https://" + uiaddr + "/api/host"); err == nil {
		resp.Body.Close()
		t.Fatalf("a revoked certificate reached the host view: %d", resp.StatusCode)
	}

	home.Close()
	c3.CloseIdleConnections()
	uc.CloseIdleConnections()
	d.stop()
}

// TestCoverRequireHardwareKey: with --require-hardware-key home, a home
// certificate whose key is in software is refused by the daemon and by
// its witness, each refusal recorded; other roles are unaffected.
func TestCoverRequireHardwareKey(t *testing.T) {
	id := newIdentities(t)
	_, logKey, err := note.GenerateKey(rand.Reader, "example.invalid/log")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	o := id.options(filepath.Join(root, "store"))
	o.Hardware = []pki.Role{pki.RoleHome}
	o.WitnessListen, o.WitnessDir, o.WitnessLogs = "127.0.0.1:0", filepath.Join(root, "witness"), []string{logKey}
	d := startDaemon(t, o, "witness")

	if resp, err := id.httpClient(t, id.client).Get("https://" + d.addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a software-key home certificate got %d from the daemon", resp.StatusCode)
	}
	if resp, err := id.httpClient(t, id.client).Post("https://"+d.addrs["witness"]+"/add-checkpoint", "text/plain", strings.NewReader(unknownCheckpoint)); err == nil {
		resp.Body.Close()
		t.Fatalf("a software-key home certificate got %d from the witness", resp.StatusCode)
	}
	wantErr := "certificate not hardware-bound: role home needs a certificate whose key is held by a TPM ('embassy pki issue --tpm')"
	refused := d.log.find("witness: client refused")
	if len(refused) != 1 || refused[0].attrs["err"] != wantErr {
		t.Fatalf("witness refusals %v, want one with err %q", refused, wantErr)
	}

	// An operator (not required to hold a hardware key) reads the events.
	opsFiles, _ := id.issue(t, pki.RoleOperator, "ops")
	ops, err := remote.New(t.Context(), remote.Config{Host: d.addr, Files: opsFiles, ExpectSite: "lu"})
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	evs, err := ops.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	homeID := "spiffe://" + id.home + "/role/home/home"
	for _, detail := range []string{wantErr, "witness: " + wantErr} {
		if !slices.ContainsFunc(evs, func(e api.Event) bool {
			return e.Kind == "denied" && e.Identity == homeID && e.Detail == detail
		}) {
			t.Errorf("no refusal %q in %+v", detail, evs)
		}
	}
	ops.Close()
	d.stop()
}
