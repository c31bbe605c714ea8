package broker

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestCanonicalJSONExact: the JCS encoding of every value kind the KBS
// protocol binds, byte for byte; a fraction is refused, not rounded.
func TestCanonicalJSONExact(t *testing.T) {
	v := map[string]any{
		"z": []any{true, false, nil, json.Number("-7"), "a\\b\"\b\f\n\r\t\x01é"},
		"a": map[string]any{"y": []any{}, "b": 1},
	}
	got, err := canonicalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":{"b":1,"y":[]},"z":[true,false,null,-7,"a\\b\"\b\f\n\r\t\u0001é"]}`
	if string(got) != want {
		t.Fatalf("canonical JSON\n got %s\nwant %s", got, want)
	}
	for _, bad := range []any{1.5, []any{1, 2.25}, map[string]any{"k": 1e-3}} {
		if _, err := canonicalJSON(bad); err == nil || !strings.Contains(err.Error(), "is not an integer") {
			t.Errorf("%v: got %v, want a non-integer refusal", bad, err)
		}
	}
	if _, err := canonicalJSON(func() {}); err == nil {
		t.Error("a function was encoded")
	}
}

func jwk(t *testing.T, key any, alg string) json.RawMessage {
	t.Helper()
	b, err := (&jose.JSONWebKey{Key: key, Algorithm: alg}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseTEEKeyRefusals: a workload's wrapping key must be a public RSA
// key of at least 2048 bits or an EC P-256/P-384 key, with the one
// algorithm the broker wraps with.
func TestParseTEEKeyRefusals(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // the refusal under test
	if err != nil {
		t.Fatal(err)
	}
	big, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(nil)
	for _, c := range []struct {
		name string
		raw  json.RawMessage
		want string
	}{
		{"not JSON", json.RawMessage(`[`), "tee-pubkey:"},
		{"not a JWK", json.RawMessage(`{"kty":"RSA"}`), "tee-pubkey:"},
		{"private key", jwk(t, p256, ""), "a private key was sent"},
		{"small RSA", jwk(t, &small.PublicKey, ""), "RSA key of 1024 bits: at least 2048"},
		{"RSA with another alg", jwk(t, &big.PublicKey, "RSA1_5"), `alg "RSA1_5": the broker wraps RSA keys only with RSA-OAEP-256`},
		{"P-521", jwk(t, &p521.PublicKey, ""), "EC keys must be on P-256 or P-384"},
		{"EC with another alg", jwk(t, &p256.PublicKey, "ECDH-ES"), `alg "ECDH-ES": the broker wraps EC keys only with ECDH-ES+A256KW`},
		{"symmetric", jwk(t, []byte("0123456789abcdef"), ""), "a private key was sent"},
		{"Ed25519", jwk(t, edPub, ""), `key type "OKP" is not supported (RSA or EC)`},
	} {
		if _, err := parseTEEKey(c.raw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		raw json.RawMessage
		alg jose.KeyAlgorithm
	}{{jwk(t, &big.PublicKey, "RSA-OAEP-256"), jose.RSA_OAEP_256}, {jwk(t, &p256.PublicKey, ""), jose.ECDH_ES_A256KW}} {
		k, err := parseTEEKey(c.raw)
		if err != nil || k.alg != c.alg {
			t.Errorf("control %s: %v %v", c.alg, k.alg, err)
		}
	}
}

// TestIdentityClaimAndRefusalText: which measurement pins an attester per
// TEE, and the refusal text a workload sees.
func TestIdentityClaimAndRefusalText(t *testing.T) {
	for tee, want := range map[string]string{"tpm": "tpm.ak", "tpm-sim": "tpm.ak", "snp": "snp.chip_id", "az-snp-vtpm": "snp.chip_id",
		"tdx": "tdx.mrsigner", "az-tdx-vtpm": "tdx.mrsigner", "nvidia": "nvidia.identity"} {
		if got := identityClaim(tee); got != want {
			t.Errorf("identityClaim(%s) = %s, want %s", tee, got, want)
		}
	}
	if got := refuse("policy", "no rule for %s", "d1").Error(); got != "refused (policy): no rule for d1" {
		t.Errorf("refusal text %q", got)
	}
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "are required") {
		t.Errorf("broker without parts: %v", err)
	}
	names := MetricNames()
	if len(names) == 0 {
		t.Fatal("no metric names")
	}
	broker := 0
	for _, n := range names {
		if strings.HasPrefix(n, "embassy_broker_") {
			broker++
		}
	}
	if broker == 0 {
		t.Errorf("no embassy_broker_ metric among %v", names)
	}
}

// TestVerifyEARRefusals: a token that is not a JWS, signed by another
// key, of another profile, or expired is refused.
func TestVerifyEARRefusals(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Unix(1_800_000_000, 0)
	mk := func(k ed25519.PrivateKey, e EAR) string {
		s, err := signEAR(k, e)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := EAR{Profile: EARProfile, IssuedAt: now.Unix(), Expires: now.Unix() + 60, Home: "h1", Workload: "w1", Site: "lu"}
	e, err := VerifyEAR(mk(key, good), pub, now)
	if err != nil || e.Workload != "w1" || e.Site != "lu" {
		t.Fatalf("control: %+v %v", e, err)
	}
	wrong := good
	wrong.Profile = "tag:example,2020:other"
	for _, c := range []struct {
		name, tok, want string
		at              time.Time
	}{
		{"not a JWS", "x.y", "ear:", now},
		{"another key", mk(other, good), "signature does not verify", now},
		{"another profile", mk(key, wrong), `profile "tag:example,2020:other"`, now},
		{"expired", mk(key, good), "expired", now.Add(time.Minute)},
	} {
		if _, err := VerifyEAR(c.tok, pub, c.at); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// TestParseKeyBundleRefusals: a key bundle of another format, without
// keys, or with keys of the wrong size is refused.
func TestParseKeyBundleRefusals(t *testing.T) {
	k32 := bytes.Repeat([]byte{7}, 32)
	mk := func(kb KeyBundle) []byte { b, _ := json.Marshal(kb); return b }
	ok := KeyBundle{Format: KeyBundleFormat, Dataset: "d1", Keys: []BundleKey{{Version: 1, Enc: k32, IDKey: k32, GearKey: k32}}}
	short := ok
	short.Keys = []BundleKey{{Version: 3, Enc: k32, IDKey: k32[:31], GearKey: k32}}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"not JSON", []byte("{"), "key bundle:"},
		{"other format", mk(KeyBundle{Format: "x", Keys: ok.Keys}), "wrong format or no keys"},
		{"no keys", mk(KeyBundle{Format: KeyBundleFormat}), "wrong format or no keys"},
		{"short key", mk(short), "key version 3 has the wrong size"},
	} {
		if _, err := ParseKeyBundle(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	kb, err := ParseKeyBundle(mk(ok))
	if err != nil || kb.Dataset != "d1" || len(kb.Keys) != 1 {
		t.Fatalf("control: %+v %v", kb, err)
	}
	kb.Wipe()
	if !bytes.Equal(kb.Keys[0].Enc, make([]byte, 32)) {
		t.Error("Wipe left key material")
	}
}

// TestRefValuesRefusals: each field rule of reference values, and each
// check of a signed file, names what is wrong.
func TestRefValuesRefusals(t *testing.T) {
	base := func() RefValues {
		return RefValues{Format: RefsFormat, Name: "fw-1", TEE: "tpm", Issued: time.Unix(1e9, 0).UTC(), Measurements: map[string]string{"pcr/0": "ab"}}
	}
	many := map[string]string{}
	for i := range 257 {
		many[strings.Repeat("m", 1+i%100)+string(rune('a'+i/100))+"-"+strings.Repeat("x", i/26)] = "00"
	}
	for _, c := range []struct {
		name string
		edit func(*RefValues)
		want string
	}{
		{"format", func(r *RefValues) { r.Format = "x" }, `format "x"`},
		{"name", func(r *RefValues) { r.Name = "Fw" }, `name "Fw"`},
		{"tee", func(r *RefValues) { r.TEE = "T P M" }, `tee "T P M" is not a TEE name`},
		{"issued", func(r *RefValues) { r.Issued = time.Time{} }, "issued time is missing"},
		{"description", func(r *RefValues) { r.Description = "tab\there" }, "description must be at most 1024 printable"},
		{"no measurements", func(r *RefValues) { r.Measurements = nil }, "0 measurements: want 1 to 256"},
		{"too many", func(r *RefValues) { r.Measurements = many }, "measurements: want 1 to 256"},
		{"measurement name", func(r *RefValues) { r.Measurements = map[string]string{"PCR0": "ab"} }, `measurement name "PCR0"`},
		{"measurement value", func(r *RefValues) { r.Measurements = map[string]string{"pcr0": "AB"} }, "measurement pcr0: value must be lowercase hex"},
	} {
		r := base()
		c.edit(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	if len(many) != 257 {
		t.Fatalf("fixture: %d measurements", len(many))
	}

	_, key, _ := ed25519.GenerateKey(nil)
	_, stranger, _ := ed25519.GenerateKey(nil)
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	r := base()
	r.Description = "firmware"
	s, err := SignRefs(r, key)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(s)
	if got, err := ParseRefs(good, trusted); err != nil || got.Description != "firmware" {
		t.Fatalf("control: %+v %v", got, err)
	}
	un, _ := SignRefs(base(), stranger)
	untrusted, _ := json.Marshal(un)
	forged := bytes.Replace(good, []byte(`"firmware"`), []byte(`"firmwarf"`), 1)
	badSigner := *s
	badSigner.Signer = "zz"
	bs, _ := json.Marshal(badSigner)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"too large", make([]byte, maxRefsFile+1), "at most"},
		{"unknown field", []byte(`{"format":"embassy.refs.v1","extra":1}`), "unknown field"},
		{"trailing", append(bytes.Clone(good), []byte(` {}`)...), "trailing data"},
		{"stray brace", append(bytes.Clone(good), '}'), "reference-value file: trailing data"},
		{"bad signer", bs, "signer is not a hex Ed25519 public key"},
		{"untrusted", untrusted, "is not a trusted publisher"},
		{"forged", forged, "signature does not verify"},
	} {
		if _, err := ParseRefs(c.b, trusted); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}

	st, err := NewStore(t.TempDir(), trusted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApproveRefs("../x"); err == nil || !strings.Contains(err.Error(), "is not valid") {
		t.Errorf("approve a bad name: %v", err)
	}
	if _, err := st.ApproveRefs("fw-1"); err == nil || !strings.Contains(err.Error(), "no pending reference values named fw-1") {
		t.Errorf("approve nothing staged: %v", err)
	}
	// A pending file edited after staging is not approved.
	if err := os.WriteFile(filepath.Join(st.Dir, refsDir, "pending", "fw-1.json"), forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApproveRefs("fw-1"); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
		t.Errorf("approve an edited file: %v", err)
	}
	if _, err := st.AddRefs(good); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApproveRefs("fw-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddRefs(good); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Errorf("restage approved values: %v", err)
	}
}

// TestAddWorkloadPins: a workload is pinned once by name and by identity;
// a malformed one is refused and nothing is written.
func TestAddWorkloadPins(t *testing.T) {
	st, err := NewStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := Workload{Name: "reg", Identity: "abcd", Site: "lu"}
	if err := st.AddWorkload(w); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		w    Workload
		want string
	}{
		{Workload{Name: "reg", Identity: "ef01", Site: "lu"}, "workload reg (identity abcd) is already pinned"},
		{Workload{Name: "reg2", Identity: "abcd", Site: "ch"}, "workload reg (identity abcd) is already pinned"},
		{Workload{Name: "reg2", Identity: "not-hex", Site: "ch"}, "needs a name, a hex identity and a site"},
		{Workload{Name: "reg2", Identity: "ef01"}, "needs a name, a hex identity and a site"},
	} {
		if err := st.AddWorkload(c.w); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.w, err, c.want)
		}
	}
	if err := st.AddWorkload(Workload{Name: "reg2", Identity: "ef01", Site: "ch"}); err != nil {
		t.Fatal(err)
	}
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Workloads) != 2 || s.Workloads[0] != w || s.Workloads[1].Name != "reg2" {
		t.Fatalf("pinned %+v", s.Workloads)
	}
}
