package locate

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/pki"
)

type fixture struct {
	ca     *pki.CA
	cert   *x509.Certificate
	key    crypto.Signer
	wit    note.Signer
	vkey   string
	now    time.Time
	decl   Point
	bundle *Bundle
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	ca, err := pki.Init(t.TempDir(), "h1", now)
	if err != nil {
		t.Fatal(err)
	}
	ca.Now = func() time.Time { return now }
	is, err := ca.Issue(pki.Request{Role: pki.RoleSite, Name: "lu", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	skey, v0, err := note.GenerateKey(rand.Reader, "tallinn-w")
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := f_note.VKeyToCosignatureV1(v0)
	ws, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ca: ca, cert: is.Cert, key: pair.PrivateKey.(crypto.Signer), wit: ws, vkey: vkey, now: now, decl: luxembourg}
	f.bundle = f.build(t, []int64{int64(40 * time.Millisecond)}, []int64{int64(30 * time.Millisecond)})
	return f
}

// build makes a bundle with one facts document per home sample and one
// witness answer.
func (f *fixture) build(t testing.TB, home, wit []int64) *Bundle {
	t.Helper()
	b := &Bundle{Format: BundleFormat, Site: "lu", Home: "h1", Created: f.now, HomeAt: tallinn, Declared: &f.decl,
		Chain: []string{base64.StdEncoding.EncodeToString(f.cert.Raw), base64.StdEncoding.EncodeToString(f.ca.Cert.Raw)}}
	for _, rtt := range home {
		s, err := SignFacts(Facts{Format: FactsFormat, Site: "lu", Home: "h1", Declared: &f.decl, Place: "Luxembourg", Jurisdiction: "LU", Time: f.now, Nonce: NewNonce()}, f.key)
		if err != nil {
			t.Fatal(err)
		}
		b.Facts, b.HomeRTT = append(b.Facts, s), append(b.HomeRTT, rtt)
	}
	n := NewNonce()
	a, err := SignRTT(RTT{Format: RTTFormat, Witness: "tallinn-w", Site: "lu", Addr: "127.0.0.1:1", Nonce: n, Samples: wit, SiteCert: CertDigest(f.cert.Raw), Time: f.now}, f.wit)
	if err != nil {
		t.Fatal(err)
	}
	b.Witnesses = []WitnessProbe{{Name: "tallinn-w", VKey: f.vkey, At: tallinn, Nonce: n, Answer: &a}}
	ms := []Measurement{{Name: "h1", Kind: "home", At: tallinn}, {Name: "tallinn-w", Kind: "witness", At: tallinn}}
	for _, s := range home {
		ms[0].Samples = append(ms[0].Samples, time.Duration(s))
	}
	for _, s := range wit {
		ms[1].Samples = append(ms[1].Samples, time.Duration(s))
	}
	v, err := Check(f.decl, ms)
	if err != nil {
		t.Fatal(err)
	}
	b.Verdict = &v
	return b
}

func TestFactsSignVerify(t *testing.T) {
	f := newFixture(t)
	c, err := f.bundle.Recheck(f.ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if c.Verdict.Result != Consistent || c.Facts[0].Place != "Luxembourg" || len(c.RTTs) != 1 {
		t.Fatalf("%+v", c)
	}
	fast := f.build(t, []int64{int64(time.Millisecond)}, []int64{int64(time.Millisecond)})
	if c, err := fast.Recheck(f.ca.Cert); err != nil || c.Verdict.Result != Contradicted {
		t.Fatalf("a site declared in Luxembourg answering Tallinn in 1 ms: %+v %v", c, err)
	}
}

// Every altered part of a bundle is refused offline.
func TestBundleTamperRefused(t *testing.T) {
	f := newFixture(t)
	other, _ := pki.Init(t.TempDir(), "h1", f.now)
	for name, mut := range map[string]func(b *Bundle){
		"facts body":      func(b *Bundle) { b.Facts[0].Body = flip(b.Facts[0].Body) },
		"facts signature": func(b *Bundle) { b.Facts[0].Signature = flip(b.Facts[0].Signature) },
		"declared moved":  func(b *Bundle) { b.Declared = &Point{Lat: 59, Lon: 24} },
		"home rtt faster": func(b *Bundle) { b.HomeRTT[0] = int64(time.Millisecond) },
		"witness samples": func(b *Bundle) { b.Witnesses[0].Answer.Body = flip(b.Witnesses[0].Answer.Body) },
		"witness nonce":   func(b *Bundle) { b.Witnesses[0].Nonce = NewNonce() },
		"witness key":     func(b *Bundle) { b.Witnesses[0].VKey = strings.Replace(b.Witnesses[0].VKey, "tallinn-w", "other", 1) },
		"verdict":         func(b *Bundle) { b.Verdict.Result = Contradicted },
		"site renamed":    func(b *Bundle) { b.Site = "de" },
		"replayed facts":  func(b *Bundle) { b.Facts = append(b.Facts, b.Facts[0]); b.HomeRTT = append(b.HomeRTT, b.HomeRTT[0]) },
		"no facts":        func(b *Bundle) { b.Facts, b.HomeRTT = nil, nil },
		"format":          func(b *Bundle) { b.Format = "x" },
	} {
		b := f.build(t, []int64{int64(40 * time.Millisecond)}, []int64{int64(30 * time.Millisecond)})
		mut(b)
		if _, err := b.Recheck(f.ca.Cert); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := f.bundle.Recheck(other.Cert); err == nil || !strings.Contains(err.Error(), "home CA") {
		t.Errorf("another CA: %v", err)
	}
}

func flip(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	b[len(b)/2] ^= 1
	return base64.StdEncoding.EncodeToString(b)
}

func TestRTTRequestValidate(t *testing.T) {
	good := RTTRequest{Site: "lu", Addr: "127.0.0.1:7443", Nonce: NewNonce(), Samples: 3}
	b, _ := json.Marshal(good)
	if _, err := ParseRTTRequest(b); err != nil {
		t.Fatal(err)
	}
	for _, r := range []RTTRequest{{Site: "lu", Addr: "a:1", Nonce: "00", Samples: 3}, {Site: "lu", Addr: "a:1", Nonce: good.Nonce, Samples: 99},
		{Site: "l\x1bu", Addr: "a:1", Nonce: good.Nonce, Samples: 1}, {Addr: "a:1", Nonce: good.Nonce, Samples: 1}} {
		b, _ := json.Marshal(r)
		if _, err := ParseRTTRequest(b); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	if _, err := ParseRTTRequest([]byte(`{"site":"lu","addr":"a:1","nonce":"` + good.Nonce + `","samples":1,"x":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
}

// Known answer (docs/formats/location.md): the exact signed bytes of a
// facts document and its Ed25519 signature over the facts context, with
// the all-zero seed. Changing field order, names or the context breaks it.
func TestFactsKnownAnswer(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	p := Point{Lat: 49.6116, Lon: 6.1319}
	s, err := SignFacts(Facts{Format: FactsFormat, Site: "lu", Home: "h1", Declared: &p, Place: "Luxembourg", Jurisdiction: "LU",
		Time: time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), Nonce: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}, key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := base64.StdEncoding.DecodeString(s.Body)
	const wantBody = `{"format":"embassy-site-facts/1","site":"lu","home":"h1","declared":{"lat":49.6116,"lon":6.1319},"place":"Luxembourg","jurisdiction":"LU","time":"2026-12-02T06:00:00Z","nonce":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}`
	const wantSig = "oDUqjrrD+uhIAWb5EPiR4QfbrXLp9J2/fogN2M38dOQGaocHaoU5Q4Ym7wIJobtOgn93SMimoZlla4Vf8RhPDg=="
	if string(body) != wantBody || s.Signature != wantSig {
		t.Fatalf("body %s\nsignature %s", body, s.Signature)
	}
	if !ed25519.Verify(key.Public().(ed25519.PublicKey), append([]byte("embassy site facts v1\x00"), body...), mustB64(t, wantSig)) {
		t.Fatal("the signature is not over the documented context")
	}
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
