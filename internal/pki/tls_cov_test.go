package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type tlsWorld struct {
	dir  string
	ca   *CA
	pool *x509.CertPool
}

func newTLSWorld(t *testing.T) *tlsWorld {
	t.Helper()
	dir := t.TempDir()
	ca, err := Init(filepath.Join(dir, "ca"), "h1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tlsWorld{dir: dir, ca: ca, pool: pool}
}

func (w *tlsWorld) pair(t *testing.T, ca *CA, role Role, name string, hosts ...string) (tls.Certificate, *Issued) {
	t.Helper()
	is, err := ca.Issue(Request{Role: role, Name: name, Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	p, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return p, is
}

// handshake runs one TLS 1.3 handshake over an in-memory pipe and returns
// the client's and the server's errors.
func handshake(t *testing.T, client, server *tls.Config) (cerr, serr error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := tls.Server(b, server)
		serr = s.Handshake()
		if serr == nil {
			// TLS 1.3: the client's certificate is checked after the
			// client finished; read once so a refusal reaches the client.
			s.Write([]byte("ok"))
		}
		s.Close()
	}()
	c := tls.Client(a, client)
	a.SetDeadline(time.Now().Add(30 * time.Second))
	b.SetDeadline(time.Now().Add(30 * time.Second))
	cerr = c.Handshake()
	if cerr == nil {
		_, cerr = c.Read(make([]byte, 2))
	}
	a.Close() // unblocks a server still writing to a client that gave up
	wg.Wait()
	return cerr, serr
}

// TestMutualTLS: the daemon's and the client's configurations accept
// exactly the home's certificates of the right role and name, and refuse
// everything else with the reason, reported through onRefuse.
func TestMutualTLS(t *testing.T) {
	w := newTLSWorld(t)
	site, _ := w.pair(t, w.ca, RoleSite, "lu", "127.0.0.1")
	home, _ := w.pair(t, w.ca, RoleHome, "home")
	op, opIs := w.pair(t, w.ca, RoleOperator, "ops")
	other, _ := Init(filepath.Join(w.dir, "other"), "h2", time.Now())
	foreign, _ := w.pair(t, other, RoleHome, "home")
	notSite, _ := w.pair(t, w.ca, RoleAuditor, "aud")

	rev, err := OpenRevocations(filepath.Join(w.dir, "crl.pem"), w.ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	var mu sync.Mutex
	server := ServerTLS(site, w.pool, PeerCheck{Home: "h1", Roles: []Role{RoleHome, RoleOperator}, Revoked: rev}, func(id Identity, err error) {
		mu.Lock()
		refused = append(refused, id.Name+": "+err.Error())
		mu.Unlock()
	})
	client := func(p tls.Certificate, expect string) *tls.Config {
		c := ClientTLS(p, w.pool, "h1", expect)
		c.ServerName = "127.0.0.1"
		return c
	}
	if cerr, serr := handshake(t, client(home, "lu"), server); cerr != nil || serr != nil {
		t.Fatalf("home to its site: client %v, server %v", cerr, serr)
	}
	if _, serr := handshake(t, client(op, ""), server); serr != nil {
		t.Fatalf("operator: %v", serr)
	}
	if cerr, _ := handshake(t, client(home, "ch"), server); cerr == nil || !strings.Contains(cerr.Error(), `names site "lu", want "ch"`) {
		t.Fatalf("a client expecting ch connected to lu: %v", cerr)
	}
	if _, serr := handshake(t, client(foreign, ""), server); serr == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
	if _, serr := handshake(t, client(notSite, ""), server); serr == nil || !strings.Contains(serr.Error(), "role auditor may not connect here") {
		t.Fatalf("an auditor was accepted: %v", serr)
	}
	// A server that shows a home certificate instead of a site's.
	fake := ServerTLS(home, w.pool, PeerCheck{}, nil)
	if cerr, _ := handshake(t, client(op, ""), fake); cerr == nil {
		t.Fatal("client accepted a server with a home certificate")
	}
	// Revoked, then refused, and the refusal names the identity.
	_, crl, err := w.ca.Revoke(filepath.Join(w.dir, "ca"), opIs.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Update(crl); err != nil {
		t.Fatal(err)
	}
	if _, serr := handshake(t, client(op, ""), server); !errors.Is(serr, ErrRevoked) {
		t.Fatalf("revoked operator: %v", serr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 2 || !strings.HasPrefix(refused[0], "aud: ") || !strings.HasPrefix(refused[1], "ops: ") {
		t.Fatalf("refusals: %q", refused)
	}
	if rev.Stale(time.Now()) || !rev.Stale(time.Now().Add(10*365*24*time.Hour)) {
		t.Fatal("a fresh CRL is stale, or one ten years old is not")
	}
}

// TestRequireUnrevoked: a connection opened before a revocation does not
// outlive it: the next request on it is refused with 403.
func TestRequireUnrevoked(t *testing.T) {
	w := newTLSWorld(t)
	site, _ := w.pair(t, w.ca, RoleSite, "lu", "127.0.0.1")
	op, opIs := w.pair(t, w.ca, RoleOperator, "ops")
	rev, _ := OpenRevocations("", w.ca.Cert)
	var seen []string
	h := RequireUnrevoked(rev, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.Write([]byte("served")) }),
		func(r *http.Request, err error) { seen = append(seen, err.Error()) })
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = ServerTLS(site, w.pool, PeerCheck{}, nil) // only the handler checks
	srv.StartTLS()
	defer srv.Close()
	cfg := ClientTLS(op, w.pool, "h1", "lu")
	cfg.ServerName = "127.0.0.1"
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	get := func() int {
		t.Helper()
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("before revocation: %d", code)
	}
	_, crl, _ := w.ca.Revoke(filepath.Join(w.dir, "ca"), opIs.Cert)
	if _, err := rev.Update(crl); err != nil {
		t.Fatal(err)
	}
	if code := get(); code != http.StatusForbidden { // same keep-alive connection
		t.Fatalf("after revocation: %d", code)
	}
	if len(seen) != 1 {
		t.Fatalf("refusals seen: %q", seen)
	}
}

// TestSaveAndLoadMaterial: saved identities load back as TLS material;
// Save never replaces a key or mixes CAs in one folder; certificates
// without an embassy role have no identity.
func TestSaveAndLoadMaterial(t *testing.T) {
	w := newTLSWorld(t)
	_, is := w.pair(t, w.ca, RoleSite, "lu", "127.0.0.1", "lu.example")
	out := filepath.Join(w.dir, "out")
	if err := is.Save(out, "lu", w.ca.Cert); err != nil {
		t.Fatal(err)
	}
	f := Files{CA: filepath.Join(out, CACertFile), Cert: filepath.Join(out, "lu.crt"), Key: filepath.Join(out, "lu.key")}
	pair, pool, err := TLSMaterial(f)
	if err != nil || pair.Leaf == nil || pool == nil {
		t.Fatalf("TLSMaterial: %v", err)
	}
	if id, err := Identify(pair.Leaf); err != nil || id.String() != "spiffe://h1/role/site/lu" {
		t.Fatalf("identity %v %v", id, err)
	}
	if fi, _ := os.Stat(f.Key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	if err := is.Save(out, "lu", w.ca.Cert); err == nil {
		t.Fatal("Save replaced an existing key")
	}
	other, _ := Init(filepath.Join(w.dir, "other"), "h2", time.Now())
	if err := is.Save(out, "lu2", other.Cert); err == nil || !strings.Contains(err.Error(), "another CA certificate") {
		t.Fatalf("Save mixed two CAs in one folder: %v", err)
	}
	for name, files := range map[string]Files{
		"no key": {CA: f.CA, Cert: f.Cert, Key: filepath.Join(out, "none.key")},
		"no CA":  {CA: filepath.Join(out, "none.crt"), Cert: f.Cert, Key: f.Key},
	} {
		if _, _, err := TLSMaterial(files); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := Identify(&x509.Certificate{}); err == nil {
		t.Fatal("a certificate without a role has an identity")
	}
	if _, err := Load(filepath.Join(w.dir, "nowhere")); err == nil {
		t.Fatal("loaded a CA from an empty folder")
	}
	if _, err := Init(filepath.Join(w.dir, "ca"), "h1", time.Now()); err == nil {
		t.Fatal("Init replaced an existing CA")
	}
	if _, err := Init(filepath.Join(w.dir, "bad"), "h/1", time.Now()); err == nil {
		t.Fatal("a home id with a slash was accepted")
	}
}
