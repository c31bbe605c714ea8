package broker_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/digital-embassy/embassy/internal/broker"
)

// TestKBSConformanceDocumentedBodies replays the RCAR exchange with the
// exact payload shapes of confidential-containers/trustee
// kbs/docs/kbs_attestation_protocol.md (the real Rust kbs_protocol client
// cannot be built here: no crates.io access). It checks every member the
// document defines, in each direction:
//
//   - Request {version, tee, extra-params{tee-metadata{primary_tee,
//     additional_tees}}} -> 200, Set-Cookie kbs-session-id, Challenge
//     {nonce, extra-params} and nothing else;
//   - Attestation {init-data{format, body}, runtime-data{nonce, tee-pubkey
//     (EC JWK)}, tee-evidence{primary_evidence, additional_evidence "{}"}}
//     -> {"token"} and nothing else; the token is a JWT (three base64url
//     parts, header typ JWT) whose claims are an EAR signed by the broker:
//     eat_profile, iat, exp, eat_nonce, ear.verifier-id, submods with
//     ear.status affirming and the tee-pubkey in the key attestation;
//   - GET /kbs/v0/resource/<repo>/<type>/<tag> with the cookie -> a
//     flattened JWE {protected, encrypted_key, iv, ciphertext, tag} whose
//     protected header names alg (the tee-pubkey's) and enc, decrypting
//     with the TEE's private key to the dataset's keys;
//   - the documented failures: no cookie 401, a resource the attester may
//     not have 403, a resource that does not exist 404, each with an
//     ErrorInformation body {type, detail}.
func TestKBSConformanceDocumentedBodies(t *testing.T) {
	f := newFixture(t)
	jar, _ := cookiejar.New(nil)
	hc := f.srv.Client()
	hc.Jar = jar
	b64 := base64.RawURLEncoding.EncodeToString

	// Request.
	auth := []byte(`{"version":"0.1.1","tee":"tpm-sim","extra-params":{"tee-metadata":{"primary_tee":{"tee":"tpm-sim"},"additional_tees":[]}}}`)
	resp, err := hc.Post(f.srv.URL+"/kbs/v0/auth", "application/json", bytes.NewReader(auth))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("auth: %d %s", resp.StatusCode, body)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "kbs-session-id" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value == "" {
		t.Fatalf("auth: no kbs-session-id cookie in %v", resp.Header["Set-Cookie"])
	}
	var chal map[string]json.RawMessage
	if err := json.Unmarshal(body, &chal); err != nil || len(chal) != 2 || chal["nonce"] == nil || chal["extra-params"] == nil {
		t.Fatalf("challenge is not {nonce, extra-params}: %s", body)
	}
	var nonce string
	json.Unmarshal(chal["nonce"], &nonce)
	if n, err := base64.StdEncoding.DecodeString(nonce); err != nil || len(n) != broker.NonceSize {
		t.Fatalf("nonce %q: %v", nonce, err)
	}

	// Attestation, with an EC P-256 tee-pubkey.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var x, y [32]byte
	k.PublicKey.X.FillBytes(x[:])
	k.PublicKey.Y.FillBytes(y[:])
	jwk := `{"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x":"` + b64(x[:]) + `","y":"` + b64(y[:]) + `"}`
	jwkJCS := `{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"` + b64(x[:]) + `","y":"` + b64(y[:]) + `"}`
	// Bound as guest components bind composite evidence: SHA-384 over
	// JCS({"additional-evidence","nonce","tee-pubkey"}), "{}" as sent.
	bound := `{"additional-evidence":"{}","nonce":"` + nonce + `","tee-pubkey":` + jwkJCS + `}`
	rd := sha512.Sum384([]byte(bound))
	ev, err := f.att.Quote(rd[:])
	if err != nil {
		t.Fatal(err)
	}
	att := `{"init-data":{"format":"json","body":"{}"},"runtime-data":{"nonce":"` + nonce + `","tee-pubkey":` + jwk + `},` +
		`"tee-evidence":{"primary_evidence":` + string(ev) + `,"additional_evidence":"{}"}}`
	resp, err = hc.Post(f.srv.URL+"/kbs/v0/attest", "application/json", strings.NewReader(att))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("attest: %d %s", resp.StatusCode, body)
	}
	var tokResp map[string]string
	if err := json.Unmarshal(body, &tokResp); err != nil || len(tokResp) != 1 || tokResp["token"] == "" {
		t.Fatalf("attest response is not {token}: %s", body)
	}
	tok := tokResp["token"]
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWS compact JWT: %d parts", len(parts))
	}
	hdrJSON, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]string
	if json.Unmarshal(hdrJSON, &hdr) != nil || hdr["alg"] == "" || hdr["typ"] != "JWT" {
		t.Fatalf("token header %s", hdrJSON)
	}
	ear, err := broker.VerifyEAR(tok, f.b.EARPublicKey(), f.now)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]json.RawMessage
	json.Unmarshal(payload, &claims)
	for _, name := range []string{"eat_profile", "iat", "exp", "ear.verifier-id", "submods"} {
		if claims[name] == nil {
			t.Errorf("EAR claim %s missing: %s", name, payload)
		}
	}
	nb, _ := base64.StdEncoding.DecodeString(nonce)
	if ear.Profile != "tag:github.com,2023:veraison/ear" || ear.Expires <= ear.IssuedAt || len(ear.Submods) == 0 || ear.Nonce != b64(nb) || hdr["alg"] != "EdDSA" {
		t.Errorf("EAR %+v", ear)
	}
	for name, sm := range ear.Submods {
		if sm.Status != "affirming" {
			t.Errorf("submod %s status %q", name, sm.Status)
		}
		ak, _ := json.Marshal(sm.KeyAttest["akpub"])
		if !bytes.Contains(ak, []byte(b64(x[:]))) {
			t.Errorf("submod %s key attestation %s does not carry the tee-pubkey", name, ak)
		}
	}

	// Resource, with the cookie.
	get := func(c *http.Client, path string) (int, []byte) {
		resp, err := c.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := get(hc, "/kbs/v0/resource/embassy/dataset/weights")
	if code != 200 {
		t.Fatalf("resource: %d %s", code, body)
	}
	var jwe map[string]string
	if err := json.Unmarshal(body, &jwe); err != nil {
		t.Fatalf("resource is not JSON: %s", body)
	}
	for _, m := range []string{"protected", "encrypted_key", "iv", "ciphertext", "tag"} {
		if jwe[m] == "" {
			t.Errorf("JWE member %s missing or empty", m)
		}
	}
	for m := range jwe {
		if !slices.Contains([]string{"protected", "encrypted_key", "aad", "iv", "ciphertext", "tag"}, m) {
			t.Errorf("JWE member %s is not in the documented set", m)
		}
	}
	ph, _ := base64.RawURLEncoding.DecodeString(jwe["protected"])
	var prot map[string]any
	if json.Unmarshal(ph, &prot) != nil || prot["alg"] != "ECDH-ES+A256KW" || prot["enc"] != "A256GCM" {
		t.Fatalf("protected header %s: alg must be the tee-pubkey's", ph)
	}
	obj, err := jose.ParseEncryptedJSON(string(body), []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := obj.Decrypt(k)
	if err != nil {
		t.Fatal(err)
	}
	if kb, err := broker.ParseKeyBundle(plain); err != nil || kb.Dataset != "weights" {
		t.Fatalf("bundle %v %v", kb, err)
	}

	// The documented failures, each with an ErrorInformation body.
	errInfo := func(what string, code, want int, body []byte) {
		t.Helper()
		var e map[string]string
		if code != want || json.Unmarshal(body, &e) != nil || e["type"] == "" || e["detail"] == "" {
			t.Errorf("%s: %d %s, want %d with {type, detail}", what, code, body, want)
		}
	}
	bare := &http.Client{Transport: hc.Transport} // no cookie jar (f.srv.Client() is hc)
	code, body = get(bare, "/kbs/v0/resource/embassy/dataset/weights")
	errInfo("no cookie", code, 401, body)
	code, body = get(hc, "/kbs/v0/resource/embassy/dataset/other")
	errInfo("resource the attester may not have", code, 403, body)
	code, body = get(hc, "/kbs/v0/resource/elsewhere/key/1")
	errInfo("resource that does not exist", code, 404, body)
	resp, err = bare.Post(f.srv.URL+"/kbs/v0/attest", "application/json", strings.NewReader(att))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	errInfo("attest without the cookie", resp.StatusCode, 401, body)
}
