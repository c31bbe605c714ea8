package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// rawCase is one hand-made request and the exact answer it must get.
type rawCase struct {
	name, method, path string
	body               string
	chunked            bool // send the body without a Content-Length
	header             http.Header
	status             int
	want               api.Error
}

// TestCoverHostileRequests drives a daemon in-process with the real
// client and with hostile requests: bad object paths, oversized and
// unsized bodies, bad proof challenges, replayed create-only writes and
// CRLs, and certificates of the wrong role, of another CA and revoked.
// Each gets its exact status and error; nothing is written outside the
// store but the events file and the CRL; refusals are access events and
// failed requests are logged with route and status.
func TestCoverHostileRequests(t *testing.T) {
	id := newIdentities(t)
	root := t.TempDir()
	store := filepath.Join(root, "store")
	o := id.options(store)
	o.MaxBody = 1024
	o.EventsFile = filepath.Join(root, "events.jsonl")
	o.CRL = filepath.Join(root, "crl.pem")
	d := startDaemon(t, o)
	ctx := t.Context()

	homeFiles, homePair := id.issue(t, pki.RoleHome, "home2")
	home, err := remote.New(ctx, remote.Config{Host: d.addr, Files: homeFiles, Name: "lu", ExpectSite: "lu"})
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()

	// The real client's round trip, and a create-only write replayed with
	// other bytes: refused, the first bytes kept.
	content := []byte("sealed object bytes")
	sum := sha256.Sum256(content)
	h := site.Handle{Kind: site.KindPack, Name: hex.EncodeToString(sum[:])}
	if err := home.Put(ctx, h, site.Bytes(content), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	err = home.Put(ctx, h, site.Bytes("other bytes"), site.PutOptions{IfAbsent: true})
	if !errors.Is(err, site.ErrExists) {
		t.Fatalf("replayed create-only put: %v, want ErrExists", err)
	}
	if got, err := site.ReadAll(ctx, home, h); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("after the replay the object holds %q, %v; want %q", got, err, content)
	}
	var names []string
	if err := home.List(ctx, site.KindPack, func(fi site.Info) error { names = append(names, fi.Handle.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{h.Name}) {
		t.Fatalf("list data: %q, want [%s]", names, h.Name)
	}

	hc := id.httpClient(t, homePair)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	big := strings.Repeat("x", 2048)
	for _, tc := range []rawCase{
		{name: "escaped traversal", method: "PUT", path: "/v1/objects/data/..%2F..%2Fescape", body: "x",
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "invalid object name"}},
		{name: "hidden component", method: "PUT", path: "/v1/objects/data/.hidden", body: "x",
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "invalid object name"}},
		{name: "upper case name", method: "GET", path: "/v1/objects/data/ABC", status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "invalid object name"}},
		{name: "unknown kind", method: "PUT", path: "/v1/objects/secrets/x", body: "x",
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "unknown object kind"}},
		{name: "unknown kind listed", method: "GET", path: "/v1/list/secrets", status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "unknown object kind"}},
		{name: "oversized body", method: "PUT", path: "/v1/objects/data/big", body: big,
			status: 413, want: api.Error{Code: api.CodeTooLarge, Message: "object larger than 1024 bytes"}},
		{name: "unsized body", method: "PUT", path: "/v1/objects/data/chunked", body: "x", chunked: true,
			status: 411, want: api.Error{Code: api.CodeLengthNeeded, Message: "Content-Length required"}},
		{name: "conditional put other than *", method: "PUT", path: "/v1/objects/data/cond", body: "x",
			header: http.Header{"If-None-Match": {`"etag"`}}, status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "If-None-Match: only * is supported"}},
		{name: "retention not a time", method: "PUT", path: "/v1/objects/data/ret", body: "x",
			header: http.Header{api.HeaderRetainUntil: {"tomorrow"}}, status: 400, want: api.Error{Code: api.CodeBadRequest, Message: api.HeaderRetainUntil + ": want an RFC 3339 time"}},
		{name: "missing object", method: "GET", path: "/v1/objects/data/absent", status: 404, want: api.Error{Code: api.CodeNotFound, Message: "object not found"}},
		{name: "proof challenge not JSON", method: "POST", path: "/v1/prove", body: "garbage",
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "invalid challenge: decode challenge: invalid character 'g' looking for beginning of value"}},
		{name: "proof challenge of another version", method: "POST", path: "/v1/prove", body: `{"version":2}`,
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "invalid challenge: challenge version 2, want 1"}},
		{name: "proof challenge short nonce", method: "POST", path: "/v1/prove", body: `{"version":1,"nonce":"00"}`,
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "invalid challenge: challenge nonce: want 64 hex digits"}},
		{name: "proof challenge unknown field", method: "POST", path: "/v1/prove", body: `{"version":1,"path":"/etc"}`,
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: `invalid challenge: decode challenge: json: unknown field "path"`}},
		{name: "proof challenge traversal", method: "POST", path: "/v1/prove",
			body:   `{"version":1,"nonce":"` + strings.Repeat("0", 64) + `","objects":["data/../../etc/passwd"]}`,
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: `invalid challenge: invalid object name "../../etc/passwd": empty or hidden path component`}},
		{name: "no such endpoint", method: "GET", path: "/etc/passwd", status: 404, want: api.Error{Code: api.CodeNotFound, Message: "no such endpoint"}},
		{name: "CRL not a CRL", method: "PUT", path: "/v1/crl", body: "not a crl",
			status: 400, want: api.Error{Code: api.CodeBadRequest, Message: "CRL refused: CRL: x509: malformed crl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, status := rawDo(t, hc, d.addr, tc)
			if status != tc.status || got != tc.want {
				t.Fatalf("%s %s: %d %+v, want %d %+v", tc.method, tc.path, status, got, tc.status, tc.want)
			}
		})
	}
	// An unescaped traversal never reaches a handler: the mux answers
	// with a redirect to the cleaned path, which is no endpoint (above).
	req, _ := http.NewRequestWithContext(ctx, "PUT", "https://"+d.addr+"/v1/objects/data/../../../escape", strings.NewReader("x"))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/escape" {
		t.Fatalf("unescaped traversal: %d to %q, want 307 to /escape", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := os.Stat(filepath.Join(root, "escape")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a traversal wrote outside the store: %v", err)
	}

	// Wrong roles: an auditor may read but not write; a site certificate
	// is no client at all; a certificate of another CA fails the handshake.
	_, audPair := id.issue(t, pki.RoleAuditor, "audit")
	got, status := rawDo(t, id.httpClient(t, audPair), d.addr, rawCase{method: "PUT", path: "/v1/objects/data/by-auditor", body: "x"})
	if want := (api.Error{Code: api.CodeForbidden, Message: "role auditor may not store objects"}); status != 403 || got != want {
		t.Fatalf("auditor put: %d %+v, want 403 %+v", status, got, want)
	}
	_, sitePair := id.issue(t, pki.RoleSite, "de")
	if resp, err := id.httpClient(t, sitePair).Get("https://" + d.addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a site certificate as client got %d", resp.StatusCode)
	}

	// Revocation: the home pushes an empty CRL, then one naming the
	// auditor, who is then refused. Replaying the first (which would lift
	// the revocation) is refused; the held one again is a no-op.
	cadir := filepath.Join(id.dir, "ca")
	_, crl1, err := id.ca.Revoke(cadir)
	if err != nil {
		t.Fatal(err)
	}
	audCert, err := pki.LoadCert(filepath.Join(id.dir, "issued-audit", "audit.crt"))
	if err != nil {
		t.Fatal(err)
	}
	_, crl2, err := id.ca.Revoke(cadir, audCert)
	if err != nil {
		t.Fatal(err)
	}
	for _, crl := range [][]byte{crl1, crl2, crl2} {
		if err := home.PutCRL(ctx, crl); err != nil {
			t.Fatal(err)
		}
	}
	err = home.PutCRL(ctx, crl1)
	if want := "push CRL: daemon: CRL refused: CRL number 1 is older than the one held (2) (400)"; err == nil || err.Error() != want {
		t.Fatalf("replayed older CRL: %v, want %q", err, want)
	}
	if resp, err := id.httpClient(t, audPair).Get("https://" + d.addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a revoked certificate got %d", resp.StatusCode)
	}

	// The refusals are access events the home pulls.
	evs, err := home.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	homeID := "spiffe://" + id.home + "/role/home/home2"
	audID := "spiffe://" + id.home + "/role/auditor/audit"
	for _, want := range []api.Event{
		{Kind: "denied", Identity: audID, Role: "auditor", Detail: "put"},
		{Kind: "denied", Identity: audID, Role: "auditor", Detail: fmt.Sprintf("certificate revoked: serial %x (CRL 2)", audCert.SerialNumber)},
		{Kind: "crl", Identity: homeID, Role: "home", Detail: "revocation list 1 installed"},
		{Kind: "crl", Identity: homeID, Role: "home", Detail: "revocation list 2 installed"},
	} {
		if !slices.ContainsFunc(evs, func(e api.Event) bool {
			return e.Kind == want.Kind && e.Identity == want.Identity && e.Role == want.Role && e.Detail == want.Detail
		}) {
			t.Errorf("no event %+v in %+v", want, evs)
		}
	}
	// The site certificate is no client certificate (no client-auth
	// usage): its handshake fails before it has an identity, and is
	// counted as the first unauthenticated connection from the source.
	if !slices.ContainsFunc(evs, func(e api.Event) bool {
		return e.Kind == "denied" && e.Identity == "" && e.Remote == "127.0.0.1" && e.Count == 1 &&
			strings.HasPrefix(e.Detail, "1 unauthenticated TLS connections from 127.0.0.1 since ") && strings.HasSuffix(e.Detail, " (1 failed handshakes, 0 refused over limits)")
	}) {
		t.Errorf("no unauthenticated-connection event for the site certificate in %+v", evs)
	}

	// Failed requests are logged with their route and status.
	var logged []string
	for _, r := range d.log.find("request failed") {
		logged = append(logged, r.attrs["route"]+" "+r.attrs["status"])
	}
	for _, want := range []string{"put 400", "put 411", "put 412", "put 413", "get 404", "prove 400", "crl 400", "put 403"} {
		if !slices.Contains(logged, want) {
			t.Errorf("no \"request failed\" record for %s in %q", want, logged)
		}
	}

	// The clients hang up first: an idle HTTP/2 connection takes the
	// server's GOAWAY round to close, about the test's 1s drain.
	home.Close()
	hc.CloseIdleConnections()
	d.stop()
	// Outside the store the daemon wrote its events file and the CRL,
	// nothing else; inside it, the one object.
	if got, want := tree(t, root, store), []string{"crl.pem", "events.jsonl"}; !slices.Equal(got, want) {
		t.Fatalf("files outside the store: %q, want %q", got, want)
	}
	objs := tree(t, store)
	if want := []string{".clean-stamp", "data/" + h.Name}; !slices.Equal(objs, want) {
		t.Fatalf("files in the store: %q, want %q", objs, want)
	}
}

// rawDo sends tc and returns the decoded error body and the status.
func rawDo(t *testing.T, hc *http.Client, addr string, tc rawCase) (api.Error, int) {
	t.Helper()
	var body io.Reader
	if tc.body != "" {
		body = strings.NewReader(tc.body)
		if tc.chunked {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), tc.method, "https://"+addr+tc.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tc.header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s %s: %d with a body that is not an API error: %q", tc.method, tc.path, resp.StatusCode, b)
		}
	}
	return e, resp.StatusCode
}
