package broker

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"
)

// The protocol's request bodies come from workloads at host sites: every
// decoder must return an error, never panic, on any input.

func FuzzParseReleaseRequest(f *testing.F) {
	f.Add([]byte(`{"session":"abc","dataset":"weights","tee":"tpm","evidence":"AAAA","pubkey":"AAAA"}`))
	f.Add([]byte(`{"session":"abc","extra":1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rq, err := ParseReleaseRequest(b)
		if err == nil && (rq.Session == "" || len(rq.Evidence) == 0) {
			t.Fatal("accepted a request without session or evidence")
		}
	})
}

func FuzzParseChallengeRequest(f *testing.F) {
	f.Add([]byte(`{"tee":"tpm"}`))
	f.Add([]byte(`{"tee":"TPM"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseChallengeRequest(b)
	})
}

func FuzzParseKBSRequest(f *testing.F) {
	f.Add([]byte(`{"version":"0.1.0","tee":"snp","extra-params":""}`))
	f.Add([]byte(`{"version":"0.1.0","tee":"tdx","extra-params":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseKBSRequest(b)
	})
}

func FuzzParseKBSAttestation(f *testing.F) {
	f.Add([]byte(`{"runtime-data":{"nonce":"AAAA","tee-pubkey":{"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}},"tee-evidence":"{}"}`))
	f.Add([]byte(`{"tee-pubkey":{"kty":"RSA","alg":"RSA-OAEP-256","n":"AQAB","e":"AQAB"},"tee-evidence":{}}`))
	f.Add([]byte(`{"runtime-data":{"nonce":"AAAA","tee-pubkey":{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}},"tee-evidence":{"primary_evidence":"{}","additional_evidence":"{\"nvidia\":1}"}}`))
	f.Add([]byte(`{"tee-pubkey":{"kty":"oct","k":"AAAA"},"tee-evidence":null}`))
	// The protocol document's form: init-data, and "{}" for no devices.
	f.Add([]byte(`{"init-data":{"format":"json","body":"{}"},"runtime-data":{"nonce":"AAAA","tee-pubkey":{"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}},"tee-evidence":{"primary_evidence":{"q":1},"additional_evidence":"{}"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseKBSAttestation(b)
		if err == nil && (a.Key.key == nil || len(a.Evidence) == 0 || len(a.bound) == 0) {
			t.Fatal("accepted an attestation without key or evidence")
		}
	})
}

func FuzzParseRefs(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	pub := key.Public().(ed25519.PublicKey)
	s, _ := SignRefs(RefValues{Name: "v1", TEE: "tpm", Issued: time.Unix(1e9, 0), Measurements: map[string]string{"pcr.sha256.0": "00ff"}}, key)
	good, _ := json.Marshal(s)
	f.Add(good)
	f.Add([]byte(`{"format":"embassy.refs.v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRefs(b, []ed25519.PublicKey{pub})
		if err != nil {
			return
		}
		// Whatever verifies must re-encode to the bytes that were signed.
		c, err := r.Canonical()
		if err != nil || !ed25519.Verify(pub, c, r.Signature) {
			t.Fatal("accepted values whose canonical form does not verify")
		}
	})
}
