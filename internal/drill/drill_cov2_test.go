package drill

import (
	"crypto/ed25519"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
)

// deadPlan is a plan whose only site is an empty folder: the rebuild
// cannot find the key, so nothing is restored and no probe runs.
func deadPlan(t *testing.T) *failover.Plan {
	t.Helper()
	dir := t.TempDir()
	empty := filepath.Join(dir, "site-lu")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	return &failover.Plan{Name: "registry", Home: "h1", RTO: time.Hour,
		Sites:    []failover.PlanSite{{Name: "lu", URL: empty, Jurisdiction: "LU"}},
		Datasets: []failover.PlanDataset{{Name: "reg", RPO: time.Hour}},
		Probes:   []failover.Probe{{Register: "reg", Key: "k1"}}}
}

func fixedClock() func() time.Time {
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	return func() time.Time { return t0 }
}

// TestFailedDrillSignedByDrillKey: a drill whose sites hold nothing still
// yields a report, signed by the plan's drill key, that fails and says
// why: the site was empty and the service never came back.
func TestFailedDrillSignedByDrillKey(t *testing.T) {
	p := deadPlan(t)
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	kf := filepath.Join(t.TempDir(), "drill.key")
	if err := os.WriteFile(kf, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.DrillKey = kf
	scratch := t.TempDir()
	doc, rep, err := Run(t.Context(), p, nil, Options{Scratch: scratch, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass || rep.RTOMeasured != -1 || len(rep.Datasets) != 0 || rep.Plan != "registry" || rep.RTOTarget != 3600 {
		t.Fatalf("report %+v", rep)
	}
	var site, rto bool
	for _, f := range rep.Failures {
		site = site || strings.HasPrefix(f, "site lu: site down or empty")
		rto = rto || f == "rto registry: no probe succeeded: the service did not come back"
	}
	if !site || !rto {
		t.Fatalf("failures %q: want the empty site and the missing service", rep.Failures)
	}
	v, err := evidence.Verify(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if v.Kind != evidence.KindDrillReport || v.Key != base64.StdEncoding.EncodeToString(pub) || v.Endorsed {
		t.Fatalf("signed as %+v, want the drill key, unendorsed", v)
	}
	var back Report
	if err := doc.Decode(&back); err != nil || back.Pass || len(back.Failures) != len(rep.Failures) {
		t.Fatalf("signed body %+v %v", back, err)
	}
}

// TestFailedDrillWithoutKey: with no drill key and no rebuilt root there
// is nothing to sign with: the error says so with the key exit code, and
// the unsigned report is still returned for the operator.
func TestFailedDrillWithoutKey(t *testing.T) {
	p := deadPlan(t)
	doc, rep, err := Run(t.Context(), p, nil, Options{Now: fixedClock()})
	if doc != nil || err == nil || !strings.Contains(err.Error(), "drill failed before a report could be signed") {
		t.Fatalf("got %v, %v", doc, err)
	}
	if hint.CodeOf(err) != hint.CodeKey {
		t.Errorf("exit code %d, want %d (keys)", hint.CodeOf(err), hint.CodeKey)
	}
	if rep == nil || rep.Pass || len(rep.Failures) == 0 {
		t.Fatalf("report %+v", rep)
	}
}

// TestDrillKeyRefusals: a drill key file that is missing or is not a
// base64 32-byte seed is refused by name.
func TestDrillKeyRefusals(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(make([]byte, 31))), 0o600)
	notB64 := filepath.Join(dir, "text.key")
	os.WriteFile(notB64, []byte("not base64!"), 0o600)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "absent.key"), "drill key: open"},
		{short, "short.key: want a base64 32-byte Ed25519 seed"},
		{notB64, "text.key: want a base64 32-byte Ed25519 seed"},
	} {
		p := deadPlan(t)
		p.DrillKey = c.path
		doc, rep, err := Run(t.Context(), p, nil, Options{Now: fixedClock()})
		if doc != nil || err == nil || !strings.Contains(err.Error(), c.want) || rep == nil {
			t.Errorf("%s: got %v, %v, want %q", c.path, doc, err, c.want)
		}
	}
}

// TestProbeGet: a probe sends the session token and reports the status;
// a service that is not listening is an error, not a pass.
func TestProbeGet(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	code, err := get(t.Context(), srv.URL+"/v1/reg/k1", "tok")
	if err != nil || code != http.StatusTeapot || auth != "Bearer tok" {
		t.Fatalf("got %d %v, auth %q", code, err, auth)
	}
	// A listener that takes the connection and closes it unanswered: no
	// port is freed and reused, so nothing else can answer in its place.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if code, err := get(t.Context(), "http://"+ln.Addr().String()+"/v1/reg/k1", "tok"); err == nil {
		t.Fatalf("a peer that hung up answered %d", code)
	}
	if _, err := get(t.Context(), "http://[::1", "tok"); err == nil {
		t.Fatal("a malformed URL was requested")
	}
}
