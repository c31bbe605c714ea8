package broker_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/broker/tpmquote"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/workload"
)

// memKeys is an in-memory KeySource.
type memKeys map[string]*broker.KeyBundle

func (m memKeys) DatasetKey(_ context.Context, name string) (*broker.KeyBundle, error) {
	kb, ok := m[name]
	if !ok {
		return nil, broker.ErrNoDataset
	}
	c := *kb
	c.Keys = nil
	for _, k := range kb.Keys {
		c.Keys = append(c.Keys, broker.BundleKey{Version: k.Version, Enc: bytes.Clone(k.Enc), IDKey: bytes.Clone(k.IDKey), GearKey: bytes.Clone(k.GearKey)})
	}
	return &c, nil
}

// memLog records entries in memory.
type memLog struct {
	mu   sync.Mutex
	ents []tlog.Entry
	fail error
}

func (l *memLog) Record(_ context.Context, e tlog.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	if _, err := e.Marshal(); err != nil {
		return err
	}
	l.ents = append(l.ents, e)
	return nil
}

func (l *memLog) last() tlog.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ents[len(l.ents)-1]
}

type fixture struct {
	t     *testing.T
	dir   string
	sign  ed25519.PrivateKey
	store *broker.Store
	log   *memLog
	keys  memKeys
	att   *tpmquote.Attester
	b     *broker.Broker
	srv   *httptest.Server
	now   time.Time
	gate  broker.Gate
	upd   broker.UpdateGate // update control (update_test.go)
}

type gateFunc func(ctx context.Context, dataset, site string) error

func (g gateFunc) AllowRelease(ctx context.Context, d, s string) error { return g(ctx, d, s) }

func bundle() *broker.KeyBundle {
	k := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	return &broker.KeyBundle{Format: broker.KeyBundleFormat, Home: "h1", Dataset: "weights", DatasetID: strings.Repeat("ab", 16),
		Current: 1, Keys: []broker.BundleKey{{Version: 1, Enc: k(1), IDKey: k(2), GearKey: k(3)}}}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, sign, _ := ed25519.GenerateKey(rand.Reader)
	f := &fixture{t: t, dir: t.TempDir(), sign: sign, log: &memLog{}, keys: memKeys{"weights": bundle()},
		now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	var err error
	f.store, err = broker.NewStore(f.dir, []ed25519.PublicKey{sign.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	f.att, err = tpmquote.OpenSimulator(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.att.Close() })
	// Publish and approve the measurements the simulator has now.
	f.publish("inference-v1", true)
	f.write(broker.WorkloadsFile, "workloads:\n  - name: lu-gpu-1\n    identity: "+f.att.Identity()+"\n    site: lu-1\n")
	f.write(broker.ReleaseFile, "rules:\n  - name: weights-inference\n    datasets: [weights]\n    tee: [tpm-sim]\n    refs: [inference-v1]\n    sites: [lu-1]\n    jurisdictions: [LU]\n")
	f.start()
	return f
}

func (f *fixture) start() {
	var err error
	_, ear, _ := ed25519.GenerateKey(rand.Reader)
	f.b, err = broker.New(broker.Options{Home: "h1", Verifier: tpmquote.Verifier{}, Keys: f.keys, Log: f.log, Store: f.store,
		EARKey: ear, Now: func() time.Time { return f.now }, Gate: f.gate, Updates: f.upd,
		Sites: func(n string) (string, bool) {
			return map[string]string{"lu-1": "LU", "ch-1": "CH"}[n], n == "lu-1" || n == "ch-1"
		}})
	if err != nil {
		f.t.Fatal(err)
	}
	if f.srv != nil {
		f.srv.Close()
	}
	f.srv = httptest.NewTLSServer(f.b.Handler())
	f.t.Cleanup(f.srv.Close)
}

func (f *fixture) write(name, text string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(text), 0o600); err != nil {
		f.t.Fatal(err)
	}
	// Make sure the store sees a change even within one mtime tick.
	os.Chtimes(filepath.Join(f.dir, name), time.Now(), time.Now().Add(time.Duration(len(text))*time.Millisecond))
}

// publish signs the simulator's current measurements as reference values.
func (f *fixture) publish(name string, approve bool) {
	f.t.Helper()
	rd := make([]byte, 32)
	ev, err := f.att.Quote(rd)
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := tpmquote.Verify(ev, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	delete(c.Measurements, "tpm.ak")
	s, err := broker.SignRefs(broker.RefValues{Name: name, TEE: "tpm-sim", Issued: f.now, Measurements: c.Measurements}, f.sign)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	if _, err := f.store.AddRefs(b); err != nil {
		f.t.Fatal(err)
	}
	if approve {
		if _, err := f.store.ApproveRefs(name); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) client() *workload.Client {
	c := &workload.Client{URL: f.srv.URL, HTTP: f.srv.Client(), TEE: "tpm-sim"}
	if err := c.LoadInfo(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// refused asserts that a fetch is refused with code and a detail containing want.
func (f *fixture) refused(dataset, code, want string) {
	f.t.Helper()
	n := len(f.log.ents)
	_, _, err := f.client().Fetch(context.Background(), f.att, dataset)
	if err == nil || !errors.Is(err, workload.ErrRefused) {
		f.t.Fatalf("fetch %s: got %v, want a refusal", dataset, err)
	}
	if !strings.Contains(err.Error(), ": "+code+": ") || !strings.Contains(err.Error(), want) {
		f.t.Fatalf("fetch %s: got %v, want code %s and %q", dataset, err, code, want)
	}
	if len(f.log.ents) != n+1 {
		f.t.Fatalf("%d log entries appended, want 1", len(f.log.ents)-n)
	}
	if e := f.log.last(); e.Kind != broker.KindKeyRefuse || e.Reason != code {
		f.t.Fatalf("logged %s/%s, want %s/%s", e.Kind, e.Reason, broker.KindKeyRefuse, code)
	}
}

func TestReleaseAndLog(t *testing.T) {
	f := newFixture(t)
	kb, tok, err := f.client().Fetch(context.Background(), f.att, "weights")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kb.Keys[0].Enc, bundle().Keys[0].Enc) || kb.DatasetID != bundle().DatasetID {
		t.Fatal("released bundle differs from the vault's")
	}
	e := f.log.last()
	if e.Kind != broker.KindKeyRelease || e.Dataset != "weights" || e.Site != "lu-1" || e.Details["tee"] != "tpm-sim" ||
		e.Details["measurements"] == "" || e.Details["rule"] != "weights-inference" || e.Details["refs"] != "inference-v1" {
		t.Fatalf("release entry %+v", e)
	}
	if !e.Privileged() {
		t.Fatal("a release is not counted as a key use needing a disclosure")
	}
	ear, err := broker.VerifyEAR(tok, f.b.EARPublicKey(), f.now)
	if err != nil {
		t.Fatal(err)
	}
	if ear.Site != "lu-1" || ear.Submods["tpm-sim"].Status != "affirming" {
		t.Fatalf("ear %+v", ear)
	}
}

func TestChangedPCRRefused(t *testing.T) {
	f := newFixture(t)
	if err := f.att.Measure(9, []byte("unapproved image")); err != nil {
		t.Fatal(err)
	}
	f.refused("weights", "policy", "pcr.sha256.9 is")
	// Publishing the new image's values is not enough: they must be approved.
	f.publish("inference-v2", false)
	f.write(broker.ReleaseFile, "rules:\n  - name: weights-inference\n    datasets: [weights]\n    tee: [tpm-sim]\n    refs: [inference-v1, inference-v2]\n")
	f.refused("weights", "policy", "not approved yet: 'embassy broker refs approve inference-v2'")
	if _, err := f.store.ApproveRefs("inference-v2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.client().Fetch(context.Background(), f.att, "weights"); err != nil {
		t.Fatalf("after approval: %v", err)
	}
}

func TestRevocationStopsReleases(t *testing.T) {
	for _, tc := range []struct{ kind, value, want string }{
		{"measurement", "", "a measurement in the evidence is revoked"},
		{"site", "lu-1", "site is revoked: lu-1"},
		{"workload", "lu-gpu-1", "workload identity is revoked"},
		{"dataset", "weights", "dataset is revoked"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			f := newFixture(t)
			if _, _, err := f.client().Fetch(context.Background(), f.att, "weights"); err != nil {
				t.Fatal(err)
			}
			v := tc.value
			if tc.kind == "measurement" {
				st, _ := f.store.Load()
				v = "pcr.sha256.0=" + st.Approved["inference-v1"].Measurements["pcr.sha256.0"]
			}
			if err := f.store.Revoke(tc.kind, v); err != nil {
				t.Fatal(err)
			}
			f.refused("weights", "revoked", tc.want)
		})
	}
}

func TestShreddedDatasetRefused(t *testing.T) {
	f := newFixture(t)
	delete(f.keys, "weights")
	f.refused("weights", "no-dataset", "shredded")
}

func TestNoRuleRefused(t *testing.T) {
	f := newFixture(t)
	f.keys["census"] = bundle()
	f.refused("census", "no-rule", "no release rule covers dataset census")
}

func TestHoursAndSite(t *testing.T) {
	f := newFixture(t)
	f.write(broker.ReleaseFile, "rules:\n  - name: office\n    datasets: [weights]\n    tee: [tpm-sim]\n    refs: [inference-v1]\n    sites: [ch-1]\n    hours: 6-10\n")
	f.refused("weights", "policy", "site lu-1 is not one of ch-1; releases are allowed only 06:00-10:00 UTC")
}

func TestUnpinnedIdentityRefused(t *testing.T) {
	f := newFixture(t)
	f.write(broker.WorkloadsFile, "workloads: []\n")
	f.refused("weights", "identity", "is not pinned")
}

func TestLogFailureReleasesNothing(t *testing.T) {
	f := newFixture(t)
	f.log.fail = errors.New("witness unreachable")
	_, _, err := f.client().Fetch(context.Background(), f.att, "weights")
	if err == nil || !strings.Contains(err.Error(), "log: not released") {
		t.Fatalf("got %v, want a refusal because the log is down", err)
	}
}

// post sends a raw native API request.
func post(t *testing.T, c *http.Client, url string, v any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestNonceReuseReplayBindingRestart(t *testing.T) {
	f := newFixture(t)
	hc := f.srv.Client()
	challenge := func() broker.Challenge {
		var ch broker.Challenge
		_, b := post(t, hc, f.srv.URL+"/v1/challenge", broker.ChallengeRequest{TEE: "tpm-sim"})
		if err := json.Unmarshal(b, &ch); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	pub := func() []byte {
		k, _ := hpkeKey()
		return k
	}
	release := func(ch broker.Challenge, pk, ev []byte) (int, broker.APIError) {
		code, b := post(t, hc, f.srv.URL+"/v1/release", broker.ReleaseRequest{Session: ch.Session, Dataset: "weights", TEE: "tpm-sim", Evidence: ev, PubKey: pk})
		var ae broker.APIError
		json.Unmarshal(b, &ae)
		return code, ae
	}
	ch := challenge()
	pk := pub()
	ev, _ := f.att.Quote(broker.ReportData(ch.Nonce, pk))
	if code, ae := release(ch, pk, ev); code != 200 {
		t.Fatalf("first release: %d %+v", code, ae)
	}
	// The same session (nonce) again, with fresh evidence for it.
	ev2, _ := f.att.Quote(broker.ReportData(ch.Nonce, pk))
	if code, ae := release(ch, pk, ev2); code != 403 || ae.Code != "session" {
		t.Fatalf("reused nonce: %d %+v", code, ae)
	}
	// The same evidence on a new challenge.
	if code, ae := release(challenge(), pk, ev); code != 403 || ae.Code != "replay" {
		t.Fatalf("replayed evidence: %d %+v", code, ae)
	}
	// Evidence bound to another key than the one presented.
	ch3 := challenge()
	ev3, _ := f.att.Quote(broker.ReportData(ch3.Nonce, pub()))
	if code, ae := release(ch3, pk, ev3); code != 403 || ae.Code != "evidence" || !strings.Contains(ae.Detail, "qualifying data") {
		t.Fatalf("binding mismatch: %d %+v", code, ae)
	}
	// A broker restart between challenge and release.
	ch4 := challenge()
	ev4, _ := f.att.Quote(broker.ReportData(ch4.Nonce, pk))
	f.start()
	hc = f.srv.Client()
	if code, ae := release(ch4, pk, ev4); code != 403 || ae.Code != "session" || !strings.Contains(ae.Detail, "restarted") {
		t.Fatalf("after restart: %d %+v", code, ae)
	}
	for _, e := range f.log.ents[1:] {
		if e.Kind != broker.KindKeyRefuse {
			t.Fatalf("entry %+v after the first release, want only refusals", e)
		}
	}
}

func TestKBSFlow(t *testing.T) {
	for _, kt := range []string{"ec", "rsa"} {
		t.Run(kt, func(t *testing.T) {
			f := newFixture(t)
			jar, _ := cookiejar.New(nil)
			hc := f.srv.Client()
			hc.Jar = jar
			code, b := post(t, hc, f.srv.URL+"/kbs/v0/auth", map[string]any{"version": "0.1.0", "tee": "tpm-sim", "extra-params": ""})
			if code != 200 {
				t.Fatalf("auth: %d %s", code, b)
			}
			var ch broker.KBSChallenge
			json.Unmarshal(b, &ch)
			var priv any
			var jwk string // canonical (JCS) by hand: members sorted
			b64 := base64.RawURLEncoding.EncodeToString
			if kt == "ec" {
				k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				var x, y [32]byte
				k.PublicKey.X.FillBytes(x[:])
				k.PublicKey.Y.FillBytes(y[:])
				priv, jwk = k, `{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"`+b64(x[:])+`","y":"`+b64(y[:])+`"}`
			} else {
				k, _ := rsa.GenerateKey(rand.Reader, 2048)
				priv, jwk = k, `{"alg":"RSA-OAEP-256","e":"AQAB","kty":"RSA","n":"`+b64(k.PublicKey.N.Bytes())+`"}`
			}
			// As guest components bind composite evidence: SHA-384 over
			// JCS({"additional-evidence","nonce","tee-pubkey"}).
			bound := `{"additional-evidence":"","nonce":"` + ch.Nonce + `","tee-pubkey":` + jwk + `}`
			rdHash := sha512.Sum384([]byte(bound))
			ev, err := f.att.Quote(rdHash[:])
			if err != nil {
				t.Fatal(err)
			}
			rd := `{"tee-pubkey":` + jwk + `,"nonce":"` + ch.Nonce + `"}` // member order as a client may send it
			te, _ := json.Marshal(map[string]any{"primary_evidence": json.RawMessage(ev), "additional_evidence": ""})
			code, b = post(t, hc, f.srv.URL+"/kbs/v0/attest", map[string]json.RawMessage{"runtime-data": json.RawMessage(rd), "tee-evidence": te})
			if code != 200 {
				t.Fatalf("attest: %d %s", code, b)
			}
			var tok struct{ Token string }
			json.Unmarshal(b, &tok)
			if _, err := broker.VerifyEAR(tok.Token, f.b.EARPublicKey(), f.now); err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(f.srv.URL + "/kbs/v0/resource/embassy/dataset/weights")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("resource: %d %s", resp.StatusCode, body)
			}
			var flat map[string]any
			if err := json.Unmarshal(body, &flat); err != nil || flat["protected"] == nil || flat["encrypted_key"] == nil || flat["iv"] == nil || flat["tag"] == nil {
				t.Fatalf("not a flattened JWE: %s", body)
			}
			obj, err := jose.ParseEncryptedJSON(string(body), []jose.KeyAlgorithm{jose.ECDH_ES_A256KW, jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
			if err != nil {
				t.Fatal(err)
			}
			plain, err := obj.Decrypt(priv)
			if err != nil {
				t.Fatal(err)
			}
			kb, err := broker.ParseKeyBundle(plain)
			if err != nil || kb.Dataset != "weights" {
				t.Fatalf("bundle %v %v", kb, err)
			}
			// A revocation applies to the open session's next request.
			if err := f.store.Revoke("site", "lu-1"); err != nil {
				t.Fatal(err)
			}
			resp, _ = hc.Get(f.srv.URL + "/kbs/v0/resource/embassy/dataset/weights")
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Fatalf("after revocation: %d", resp.StatusCode)
			}
		})
	}
}

func mustJSON(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

// A guest whose evidence binds one key cannot receive resources under
// another, nor quote another session's nonce.
func TestKBSRefusesSwappedKeyAndNonce(t *testing.T) {
	f := newFixture(t)
	b64 := base64.RawURLEncoding.EncodeToString
	ecJWK := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		var x, y [32]byte
		k.PublicKey.X.FillBytes(x[:])
		k.PublicKey.Y.FillBytes(y[:])
		return `{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"` + b64(x[:]) + `","y":"` + b64(y[:]) + `"}`
	}
	for _, tc := range []struct {
		name      string
		swapKey   bool
		swapNonce bool
		devices   string
		want      string
	}{
		{"swapped key", true, false, "", "qualifying data"},
		{"other nonce", false, true, "", "nonce"},
		{"unverifiable gpu evidence", false, false, `{"nvidia":"…"}`, "device (GPU) evidence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jar, _ := cookiejar.New(nil)
			hc := f.srv.Client()
			hc.Jar = jar
			_, b := post(t, hc, f.srv.URL+"/kbs/v0/auth", map[string]any{"version": "0.1.0", "tee": "tpm-sim", "extra-params": map[string]any{}})
			var ch broker.KBSChallenge
			json.Unmarshal(b, &ch)
			nonce := ch.Nonce
			if tc.swapNonce {
				nonce = base64.StdEncoding.EncodeToString(make([]byte, 32))
			}
			jwk := ecJWK()
			ae, _ := json.Marshal(tc.devices)
			d := sha512.Sum384([]byte(`{"additional-evidence":` + string(ae) + `,"nonce":"` + nonce + `","tee-pubkey":` + jwk + `}`))
			ev, _ := f.att.Quote(d[:])
			if tc.swapKey {
				jwk = ecJWK()
			}
			te, _ := json.Marshal(map[string]any{"primary_evidence": json.RawMessage(ev), "additional_evidence": tc.devices})
			rd := `{"nonce":"` + nonce + `","tee-pubkey":` + jwk + `}`
			code, b := post(t, hc, f.srv.URL+"/kbs/v0/attest", map[string]json.RawMessage{"runtime-data": json.RawMessage(rd), "tee-evidence": te})
			if code != 401 || !strings.Contains(string(b), tc.want) {
				t.Fatalf("attest: %d %s, want 401 naming %q", code, b, tc.want)
			}
			resp, _ := hc.Get(f.srv.URL + "/kbs/v0/resource/embassy/dataset/weights")
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("resource after a failed attestation: %d, want 401", resp.StatusCode)
			}
			if e := f.log.last(); e.Kind != broker.KindKeyRefuse {
				t.Fatalf("refusal not logged: %+v", e)
			}
		})
	}
}

func TestVaultPolicyGateRefuses(t *testing.T) {
	f := newFixture(t)
	f.gate = gateFunc(func(_ context.Context, d, s string) error {
		return errors.New("class C3 keys stay home")
	})
	f.start()
	f.refused("weights", "policy", "vault policy: class C3 keys stay home")
}
