package vault

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
	"github.com/digital-embassy/embassy/internal/supply"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/witness"
)

var (
	tallinn    = locate.Point{Lat: 59.437, Lon: 24.754}
	luxembourg = locate.Point{Lat: 49.6, Lon: 6.1}
)

// factsDaemon is a daemon site "lu" answering POST /v1/facts with facts
// signed by its site key, declaring *declared (nil: no position). The
// vault's site lu points at it; the home gets a CA and a client
// certificate.
type factsDaemon struct {
	mu       sync.Mutex
	declared *locate.Point
	srv      *httptest.Server
	certSum  string // locate.CertDigest of its site certificate
	digest   string // of the build GET /v1/version reports
}

func (d *factsDaemon) declare(p *locate.Point) { d.mu.Lock(); d.declared = p; d.mu.Unlock() }

func newFactsDaemon(t *testing.T, v *Vault) *factsDaemon {
	t.Helper()
	pkiDir := filepath.Join(v.Home.Dir, "pki")
	ca, err := pki.Init(pkiDir, v.Home.Config.Home, testNow)
	if err != nil {
		t.Fatal(err)
	}
	ca.Now = func() time.Time { return testNow } // the vault's clock: the evidence is rechecked at it
	hc, err := ca.Issue(pki.Request{Role: pki.RoleHome, Name: "home"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.Save(pkiDir, "home", ca.Cert); err != nil {
		t.Fatal(err)
	}
	sc, err := ca.Issue(pki.Request{Role: pki.RoleSite, Name: "lu", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(sc.CertPEM, sc.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	d := &factsDaemon{certSum: locate.CertDigest(sc.Cert.Raw)}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/properties":
			_, _ = io.WriteString(w, "{}")
			return
		case "/v1/version":
			d.mu.Lock()
			dv := supply.DaemonVersion{Format: supply.VersionFormat, Artifact: "embassyd", Digest: d.digest, GoVersion: "go1.26", Main: "github.com/digital-embassy/embassy@v1.0.0"}
			d.mu.Unlock()
			_ = json.NewEncoder(w).Encode(dv)
			return
		}
		var req struct{ Nonce string }
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/facts" || json.Unmarshal(b, &req) != nil {
			http.Error(w, "no such thing", http.StatusNotFound)
			return
		}
		d.mu.Lock()
		f := locate.Facts{Format: locate.FactsFormat, Site: "lu", Home: v.Home.Config.Home, Declared: d.declared, Time: time.Now().UTC(), Nonce: req.Nonce}
		d.mu.Unlock()
		s, err := locate.SignFacts(f, pair.PrivateKey.(crypto.Signer))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	}))
	d.srv.TLS = pki.ServerTLS(pair, pool, pki.PeerCheck{Home: v.Home.Config.Home, Roles: []pki.Role{pki.RoleHome}}, nil)
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	s, _ := v.Home.Site("lu")
	s.URL = "embassy://" + d.srv.Listener.Addr().String()
	if err := v.Home.Save(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCoverLocate: a site declaring the home's own position answers
// within its bound (consistent); the evidence is written, logged and
// verifies offline against the home's CA and the CA it carries; a site
// declaring Luxembourg while answering from the loopback is contradicted
// (exit 3, with the evidence); a site declaring nothing is recorded with
// that problem; refusals: bad samples, bad position, unknown site, a
// site that is no daemon, a vault without its keys.
func TestCoverLocate(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	ctx := context.Background()
	d := newFactsDaemon(t, v)

	d.declare(&tallinn)
	res, err := v.Locate(ctx, LocateRequest{Site: "lu", HomeAt: tallinn, Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantPath := filepath.Join(v.Home.Dir, "evidence", "location-lu-20261125T100000Z.json")
	if res.Path != wantPath || res.Bundle.Verdict == nil || res.Bundle.Verdict.Result != locate.Consistent ||
		len(res.Bundle.Facts) != 2 || len(res.Bundle.HomeRTT) != 2 || res.Bundle.Site != "lu" {
		t.Fatalf("located: path %s, bundle %+v", res.Path, res.Bundle)
	}
	ents := logged(t, v, KindLocationEntry, "")
	if len(ents) != 1 || ents[0].Site != "lu" || ents[0].Object != res.SHA256 || ents[0].Details["result"] != "consistent" ||
		ents[0].Details["declared"] != tallinn.String() || ents[0].Details["witnesses"] != "0" {
		t.Fatalf("log entries %+v", ents)
	}
	raw, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range []*x509.Certificate{HomeCA(v.Home), nil} {
		ver, b, _, err := VerifyLocation(raw, ca)
		if err != nil || ver.Kind != KindLocation || b.Site != "lu" || b.Verdict.Result != locate.Consistent {
			t.Fatalf("verify (ca %v): %v, %+v", ca != nil, err, ver)
		}
	}
	if _, _, _, err := VerifyLocation([]byte(strings.Repeat(" ", locate.MaxBundle+1)), nil); err == nil ||
		err.Error() != "evidence of 4194305 bytes, limit 4194304" {
		t.Errorf("oversized evidence: %v", err)
	}

	if _, _, _, err := VerifyLocation(signedReport(t, v, v.Repo.Root(), testNow), nil); err == nil || err.Error() != "a crisis-activation document, not location evidence" {
		t.Errorf("an activation as location evidence: %v", err)
	}
	if _, _, _, err := VerifyLocation([]byte("{}"), nil); err == nil {
		t.Error("an empty document verified as location evidence")
	}
	home := v.Home.Config.Home
	for _, c := range []struct {
		b    locate.Bundle
		want string
	}{
		{locate.Bundle{Home: home}, "the bundle carries no CA certificate: pass the home's ca.crt"},
		{locate.Bundle{Home: home, Chain: []string{"", "not base64!"}}, "the bundle's CA certificate: illegal base64 data at input byte 3"},
		{locate.Bundle{Home: "hother"}, "evidence signed for home " + home + " names home hother"},
	} {
		root := v.Repo.Root()
		doc, err := evidence.Sign(KindLocation, c.b, root.Signer(), home, root.Epoch, root.Signer())
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(doc)
		if _, _, _, err := VerifyLocation(raw, nil); err == nil || err.Error() != c.want {
			t.Errorf("bundle %+v: %v, want %q", c.b, err, c.want)
		}
	}

	d.declare(&luxembourg)
	out := filepath.Join(dir, "far.json")
	// Samples 0: the default 5, whose fastest bounds the site to well
	// under the 1600 km to Luxembourg even on a loaded machine.
	res, err = v.Locate(ctx, LocateRequest{Site: "lu", HomeAt: tallinn, Out: out})
	if res == nil || res.Bundle.Verdict.Result != locate.Contradicted {
		t.Fatalf("contradicted: %+v, %v", res, err)
	}
	wantCode(t, err, hint.CodeDamaged, "site lu: location contradicted: "+strings.Join(res.Bundle.Verdict.Reasons, "; "),
		"the site's key answered faster than its declared position allows: ask the host where the site really is (the evidence is in "+out+")")

	d.declare(nil)
	res, err = v.Locate(ctx, LocateRequest{Site: "lu", HomeAt: tallinn, Samples: 1, Out: filepath.Join(dir, "none.json")})
	if err != nil || res.Bundle.Verdict != nil || len(res.Bundle.Problems) != 1 ||
		res.Bundle.Problems[0] != "the site declares no position (embassyd --location LAT,LON): only the round-trip bounds are recorded" {
		t.Fatalf("no position: %v, %+v", err, res)
	}
	if ents := logged(t, v, KindLocationEntry, ""); len(ents) != 3 || ents[2].Details["result"] != "no-position" {
		t.Fatalf("log after three locates: %+v", ents)
	}

	_, err = v.Locate(ctx, LocateRequest{Site: "lu", HomeAt: tallinn, Samples: 17})
	wantCode(t, err, hint.CodeUsage, "17 samples: at most 16", "")
	_, err = v.Locate(ctx, LocateRequest{Site: "xx", HomeAt: tallinn})
	wantCode(t, err, hint.CodeUsage, `no site "xx"`, "see 'embassy site list'")
	_, err = v.Locate(ctx, LocateRequest{Site: "ch", HomeAt: tallinn})
	wantCode(t, err, hint.CodeUsage, "site ch is not an embassy daemon (mem:ch)",
		"location evidence needs a daemon that signs its facts: run embassyd at the host with --location")
	_, err = v.Locate(ctx, LocateRequest{Site: "lu", HomeAt: locate.Point{Lat: 91}})
	if hint.CodeOf(err) != hint.CodeUsage {
		t.Errorf("latitude 91: %v, want a usage error", err)
	}
	_, err = (&Vault{Home: v.Home}).Locate(ctx, LocateRequest{Site: "lu"})
	if err == nil || err.Error() != "location evidence is signed with the root key: open the vault with its keys" {
		t.Errorf("without keys: %v", err)
	}
}

// TestCoverLocationJob: the scheduled location check locates every daemon
// site from schedule.location.from: consistent is OK; a contradicted
// position fails the run with one alert (its why cut to watch.Clean's
// length; not raised again next slot);
// a bad position in the schedule is a usage error.
func TestCoverLocationJob(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	ctx := context.Background()
	d := newFactsDaemon(t, v)
	cfg := protect.LocationJob{From: "59.437,24.754"}
	st := &JobState{}

	d.declare(&tallinn)
	rep, err := v.locationJob(ctx, testNow, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Summary != "1 daemon site located: lu: consistent" || len(rep.Details["lu"]) != 64 || len(rep.Alerts) != 0 {
		t.Fatalf("consistent: %+v", rep)
	}
	d.declare(nil)
	if rep, err = v.locationJob(ctx, testNow, cfg, st); err != nil || !rep.OK ||
		rep.Summary != "1 daemon site located: lu: round trips only (the site declares no position)" {
		t.Fatalf("no position: %+v, %v", rep, err)
	}
	d.declare(&luxembourg)
	rep, err = v.locationJob(ctx, testNow, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Summary != "1 daemon site located: lu: failed" || len(rep.Alerts) != 1 || rep.Alerts[0].Kind != AlertLocationFailed ||
		rep.Alerts[0].Site != "lu" || !strings.HasPrefix(rep.Alerts[0].Why, "site lu: location evidence: location contradicted: ") {
		t.Fatalf("contradicted: %+v", rep)
	}
	if rep, err = v.locationJob(ctx, testNow.Add(time.Hour), cfg, st); err != nil || rep.OK || len(rep.Alerts) != 0 {
		t.Fatalf("contradicted again: %+v, %v (want failed, the alert not raised twice)", rep, err)
	}

	_, err = v.locationJob(ctx, testNow, protect.LocationJob{From: "north"}, st)
	if hint.CodeOf(err) != hint.CodeUsage || !strings.HasPrefix(err.Error(), "schedule.location.from: ") {
		t.Errorf("bad from: %v", err)
	}
	_, err = v.locationJob(ctx, testNow, protect.LocationJob{From: "59.437,24.754", Witnesses: map[string]string{"w1": "x"}}, st)
	if hint.CodeOf(err) != hint.CodeUsage || !strings.HasPrefix(err.Error(), "schedule.location.witness-at.w1: ") {
		t.Errorf("bad witness-at: %v", err)
	}
}

// TestCoverCheckUpdates: a daemon site whose backend is no daemon is
// reported as an error, not fatal; naming a site that is no daemon is a
// usage error; the updates job says when nothing is approved.
func TestCoverCheckUpdates(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	ctx := context.Background()
	rep, err := v.updatesJob(ctx, testNow, &JobState{})
	if err != nil || !rep.OK || rep.Summary != notConfigured+"no daemon sites" {
		t.Fatalf("no daemon sites: %+v, %v", rep, err)
	}
	s, _ := v.Home.Site("lu")
	s.URL = "embassy://127.0.0.1:1" // opened in memory by the test's OpenSite: no daemon answers
	if err := v.Home.Save(); err != nil {
		t.Fatal(err)
	}
	rep, err = v.updatesJob(ctx, testNow, &JobState{})
	if err != nil || !rep.OK || rep.Summary != notConfigured+"no update approvals ('embassy update approve')" {
		t.Fatalf("no approvals: %+v, %v", rep, err)
	}
	checks, err := v.CheckUpdates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 || checks[0] != (UpdateCheck{Site: "lu", Status: "error", Detail: "not an embassy daemon site"}) {
		t.Fatalf("checks %+v", checks)
	}
	_, err = v.CheckUpdates(ctx, "ch")
	wantCode(t, err, hint.CodeUsage, "site ch is not an embassy daemon site: only daemons report their build", "")

	fw := map[string]string{"pcr.sha256.0": strings.Repeat("a0", 32)}
	if _, err := v.ApproveUpdate(ctx, UpdateApproval{Artifact: "lu-firmware", Measurements: fw, Until: testNow.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st := &JobState{}
	rep, err = v.updatesJob(ctx, testNow, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Summary != "1 daemon build checked: lu: error" || len(rep.Alerts) != 1 || rep.Alerts[0].Kind != AlertUpdate ||
		rep.Alerts[0].Why != "site lu: its build could not be checked: not an embassy daemon site" || rep.Details["lu"] != "error " {
		t.Fatalf("updates job: %+v", rep)
	}
}

// TestCoverLocateWitness: a host witness of the log policy with a known
// position measures the site: its signed round trips join the evidence;
// one that answers for another certificate, fails, or has no position
// is noted as a problem, not fatal.
func TestCoverLocateWitness(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	d := newFactsDaemon(t, v)
	d.declare(&tallinn)
	rc := v.Recorder()
	if err := rc.Setup(); err != nil {
		t.Fatal(err)
	}
	logKey, err := os.ReadFile(filepath.Join(rc.Dir, tlog.PubFile))
	if err != nil {
		t.Fatal(err)
	}
	wdir := t.TempDir()
	cosigner, vkey, err := witness.LoadOrCreateKey(wdir, "w1", witness.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	rtts, err := witness.RTTSigner(wdir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: wdir, Signer: cosigner, Logs: []string{strings.TrimSpace(string(logKey))}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	mode := "ok"
	mux := http.NewServeMux()
	mux.Handle("/", w.Handler())
	mux.HandleFunc("POST /rtt", func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req, err := locate.ParseRTTRequest(b)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		m := mode
		mu.Unlock()
		if m == "fail" {
			http.Error(rw, "cannot reach the site", http.StatusBadGateway)
			return
		}
		out := locate.RTT{Format: locate.RTTFormat, Witness: rtts.Name(), Site: req.Site, Addr: req.Addr, Nonce: req.Nonce, SiteCert: d.certSum, Time: testNow}
		if m == "other-cert" {
			out.SiteCert = strings.Repeat("00", 32)
		}
		for range req.Samples {
			out.Samples = append(out.Samples, 50_000) // 50 µs
		}
		s, err := locate.SignRTT(out, rtts)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(rw).Encode(s)
	})
	ws := httptest.NewServer(mux)
	defer ws.Close()
	if _, err := v.AddWitness(ctx, "w1", vkey, ws.URL); err != nil {
		t.Fatal(err)
	}
	v = open(t, dir, o)

	res, err := v.Locate(ctx, LocateRequest{Site: "lu", HomeAt: tallinn, Samples: 2, WitnessAt: map[string]locate.Point{"w1": tallinn}})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Bundle
	if len(b.Problems) != 0 || len(b.Witnesses) != 1 || b.Witnesses[0].Answer == nil || b.Witnesses[0].Error != "" || b.Verdict.Result != locate.Consistent {
		t.Fatalf("witness measured: problems %q, witnesses %+v, verdict %+v", b.Problems, b.Witnesses, b.Verdict)
	}
	if ents := logged(t, v, KindLocationEntry, ""); len(ents) != 1 || ents[0].Details["witnesses"] != "1" {
		t.Fatalf("log: %+v", ents)
	}
	for _, c := range []struct{ mode, problem string }{
		{"other-cert", "witness w1: measured a server whose certificate is not the one the home saw"},
		{"fail", "witness w1: HTTP 502: cannot reach the site"},
	} {
		mu.Lock()
		mode = c.mode
		mu.Unlock()
		res, err := v.Locate(ctx, LocateRequest{Site: "lu", HomeAt: tallinn, Samples: 1, Out: filepath.Join(dir, c.mode+".json"), WitnessAt: map[string]locate.Point{"w1": tallinn}})
		if err != nil {
			t.Fatalf("%s: %v", c.mode, err)
		}
		if b := res.Bundle; len(b.Problems) != 1 || b.Problems[0] != c.problem || len(b.Witnesses) != 1 || b.Witnesses[0].Answer != nil {
			t.Errorf("%s: problems %q, witnesses %+v", c.mode, b.Problems, b.Witnesses)
		}
	}
	res, err = v.Locate(ctx, LocateRequest{Site: "lu", HomeAt: tallinn, Samples: 1, Out: filepath.Join(dir, "nopos.json")})
	if err != nil {
		t.Fatal(err)
	}
	if b := res.Bundle; len(b.Problems) != 1 || b.Problems[0] != "witness w1: no position given (--witness-at w1=LAT,LON): not asked" || len(b.Witnesses) != 0 {
		t.Errorf("no position: problems %q, witnesses %+v", b.Problems, b.Witnesses)
	}
}

// TestCoverCheckUpdatesDaemon: a daemon reporting an approved build is
// approved; a build no approval covers is unapproved, alerted once (a log
// entry and a line in the site alerts file), and the updates job fails
// on it with an alert naming the way out.
func TestCoverCheckUpdatesDaemon(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	d := newFactsDaemon(t, v)
	approved, other := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	d.digest = approved
	a, err := v.ApproveUpdate(ctx, UpdateApproval{Artifact: "embassyd", Digest: approved, Until: testNow.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Site lu is the daemon; the home's objects stay in memory.
	o2 := o
	var v2 *Vault
	o2.OpenSite = func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error) {
		if strings.HasPrefix(sc.URL, "embassy://") {
			return location.Open(ctx, sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, v2.LocationOptions())
		}
		return o.OpenSite(ctx, sc, create)
	}
	v2 = New(v.Home, o2)
	v2.Repo = v.Repo // approvals verify under the open vault's key epochs
	checks, err := v2.CheckUpdates(ctx, "lu")
	if err != nil {
		t.Fatal(err)
	}
	want := UpdateCheck{Site: "lu", Artifact: "embassyd", Digest: approved, Main: "github.com/digital-embassy/embassy@v1.0.0", GoVersion: "go1.26",
		Status: "approved", Approval: a.ID, Detail: checks[0].Detail}
	if len(checks) != 1 || checks[0] != want {
		t.Fatalf("approved build: %+v\nwant %+v", checks, want)
	}

	d.mu.Lock()
	d.digest = other
	d.mu.Unlock()
	checks, err = v2.CheckUpdates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 || checks[0].Status != "unapproved" || !checks[0].Alerted || checks[0].Digest != other {
		t.Fatalf("unapproved build: %+v", checks)
	}
	if ents := logged(t, v2, KindUpdateAlert, "unapproved"); len(ents) != 1 || ents[0].Site != "lu" || ents[0].Object != other || ents[0].Details["artifact"] != "embassyd" {
		t.Fatalf("update alerts logged: %+v", ents)
	}
	alerts, err := os.ReadFile(filepath.Join(v.Home.Dir, SiteAlertsFile))
	if err != nil || strings.Count(string(alerts), `"digest":"`+other+`"`) != 1 {
		t.Fatalf("site alerts file: %v\n%s", err, alerts)
	}
	if checks, err = v2.CheckUpdates(ctx); err != nil || checks[0].Alerted {
		t.Fatalf("the same unapproved build again: %+v, %v (want it not alerted twice)", checks, err)
	}
	rep, err := v2.updatesJob(ctx, testNow, &JobState{})
	if err != nil {
		t.Fatal(err)
	}
	// the finding names its own way out (approve this digest, or restore
	// the approved build): the alert says it once, whole
	wantWhy := "site lu runs an unapproved embassyd build: no update approval covers it: " +
		"approve it with 'embassy update approve --artifact embassyd --digest " + other + " --until DATE', or restore the approved build"
	if rep.OK || rep.Summary != "1 daemon build checked: lu: unapproved" || len(rep.Alerts) != 1 || rep.Alerts[0].Why != wantWhy {
		t.Fatalf("updates job: %+v\nwant why %q", rep, wantWhy)
	}
}
