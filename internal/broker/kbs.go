package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/digital-embassy/embassy/internal/strict"
	jose "github.com/go-jose/go-jose/v4"
)

// The KBS protocol of Confidential Containers (trustee), RCAR flow:
// POST /kbs/v0/auth, POST /kbs/v0/attest, GET /kbs/v0/resource/<repo>/<type>/<tag>.
// docs/BROKER.md lists the exact JSON accepted and returned.

// KBSVersion is the protocol version the broker speaks.
const KBSVersion = "0.1.0"

const (
	kbsCookie   = "kbs-session-id"
	maxKBSBody  = 1 << 20
	kbsResource = "dataset" // <type> of dataset key bundles
)

// KBSRequest is the auth request.
type KBSRequest struct {
	Version     string          `json:"version"`
	TEE         string          `json:"tee"`
	ExtraParams json.RawMessage `json:"extra-params"`
}

// KBSChallenge is the auth response.
type KBSChallenge struct {
	Nonce       string          `json:"nonce"`
	ExtraParams json.RawMessage `json:"extra-params"`
}

// KBSAttestation is the attest request. Newer clients put the TEE key in
// runtime-data beside the nonce; older ones send tee-pubkey at the top.
type KBSAttestation struct {
	RuntimeData json.RawMessage `json:"runtime-data,omitempty"`
	InitData    json.RawMessage `json:"init-data,omitempty"`
	TEEPubKey   json.RawMessage `json:"tee-pubkey,omitempty"`
	TEEEvidence json.RawMessage `json:"tee-evidence"`
}

type kbsRuntimeData struct {
	Nonce     string          `json:"nonce"`
	TEEPubKey json.RawMessage `json:"tee-pubkey"`
}

// jwkKey is a TEE public key from a JWK, with the JWE key algorithm to use.
type jwkKey struct {
	alg jose.KeyAlgorithm
	key any // *rsa.PublicKey or *ecdsa.PublicKey
	jwk json.RawMessage
}

// parseTEEKey accepts an RSA key (RSA-OAEP-256, at least 2048 bits) or an
// EC P-256/P-384 key (ECDH-ES+A256KW), as KBS clients send them.
func parseTEEKey(raw json.RawMessage) (jwkKey, error) {
	var hdr struct {
		Kty, Alg, Crv string
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return jwkKey{}, fmt.Errorf("tee-pubkey: %w", err)
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return jwkKey{}, fmt.Errorf("tee-pubkey: %w", err)
	}
	if !k.IsPublic() {
		return jwkKey{}, errors.New("tee-pubkey: a private key was sent; send only the public key")
	}
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < 2048 {
			return jwkKey{}, fmt.Errorf("tee-pubkey: RSA key of %d bits: at least 2048", pk.N.BitLen())
		}
		if hdr.Alg != "" && hdr.Alg != string(jose.RSA_OAEP_256) {
			return jwkKey{}, fmt.Errorf("tee-pubkey: alg %q: the broker wraps RSA keys only with RSA-OAEP-256", hdr.Alg)
		}
		return jwkKey{alg: jose.RSA_OAEP_256, key: pk, jwk: raw}, nil
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() && pk.Curve != elliptic.P384() {
			return jwkKey{}, errors.New("tee-pubkey: EC keys must be on P-256 or P-384")
		}
		if hdr.Alg != "" && hdr.Alg != string(jose.ECDH_ES_A256KW) {
			return jwkKey{}, fmt.Errorf("tee-pubkey: alg %q: the broker wraps EC keys only with ECDH-ES+A256KW", hdr.Alg)
		}
		return jwkKey{alg: jose.ECDH_ES_A256KW, key: pk, jwk: raw}, nil
	}
	return jwkKey{}, fmt.Errorf("tee-pubkey: key type %q is not supported (RSA or EC)", hdr.Kty)
}

// encryptJWE encrypts plain to k as a flattened JWE JSON (A256GCM).
func encryptJWE(k jwkKey, plain []byte) ([]byte, error) {
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: k.alg, Key: k.key}, nil)
	if err != nil {
		return nil, err
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return nil, err
	}
	return []byte(obj.FullSerialize()), nil
}

type kbsError struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

func writeKBSError(w http.ResponseWriter, status int, typ, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(kbsError{Type: "https://github.com/digital-embassy/embassy/docs/BROKER.md#" + typ, Detail: detail})
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxKBSBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKBSBody {
		return nil, fmt.Errorf("request body is larger than %d bytes", maxKBSBody)
	}
	return b, nil
}

// ParseKBSRequest decodes an auth request.
func ParseKBSRequest(b []byte) (*KBSRequest, error) {
	var rq KBSRequest
	if err := strict.JSON(b, &rq); err != nil {
		return nil, fmt.Errorf("kbs request: %w", err)
	}
	if rq.Version == "" || rq.TEE == "" || !nameRE().MatchString(rq.TEE) {
		return nil, errors.New("kbs request: version and a valid tee are required")
	}
	return &rq, nil
}

// kbsComposite is the tee-evidence of current guest components: the CPU
// TEE's evidence and the devices' (GPUs'), as a JSON string.
type kbsComposite struct {
	Primary    json.RawMessage `json:"primary_evidence"`
	Additional string          `json:"additional_evidence"`
}

// KBSAttest is a decoded attest request.
type KBSAttest struct {
	Key        jwkKey
	Nonce      string // the nonce the client quotes ("" in the oldest form)
	Evidence   []byte // the primary (CPU TEE) evidence
	Additional string // the devices' evidence, as sent ("" for none, also when sent as "{}")
	bound      []byte // what the report data hashes
}

// ParseKBSAttestation decodes an attest request. The report data the
// primary evidence must carry is, as guest components compute it,
// H(JCS({"additional-evidence", "nonce", "tee-pubkey"})) for composite
// evidence, or H(JCS(runtime-data)) otherwise; H is the challenge's
// selected hash (SHA-384).
func ParseKBSAttestation(b []byte) (*KBSAttest, error) {
	var a KBSAttestation
	if err := strict.JSON(b, &a); err != nil {
		return nil, fmt.Errorf("kbs attestation: %w", err)
	}
	out := &KBSAttest{}
	var rd kbsRuntimeData
	if len(a.RuntimeData) == 0 {
		// The oldest form binds no nonce into the evidence: refused.
		return nil, errors.New("kbs attestation: runtime-data {nonce, tee-pubkey} is required (KBS protocol 0.1.0 or later)")
	}
	if err := strict.JSON(a.RuntimeData, &rd); err != nil {
		return nil, fmt.Errorf("kbs attestation: runtime-data: %w", err)
	}
	pub := rd.TEEPubKey
	out.Nonce = rd.Nonce
	if len(pub) == 0 {
		return nil, errors.New("kbs attestation: tee-pubkey is missing")
	}
	var err error
	if out.Key, err = parseTEEKey(pub); err != nil {
		return nil, err
	}
	ev := a.TEEEvidence
	var comp kbsComposite
	composite := strict.JSON(ev, &comp) == nil && len(comp.Primary) > 0
	if composite {
		ev, out.Additional = comp.Primary, comp.Additional
		// The KBS protocol's example (and current guest components with no
		// device attesters) send "{}": no devices. It stays in the bound
		// data as sent; there is nothing to verify.
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(comp.Additional), &m) == nil && m != nil && len(m) == 0 {
			out.Additional = ""
		}
	}
	out.Evidence = ev
	var s string
	if json.Unmarshal(ev, &s) == nil {
		out.Evidence = []byte(s)
	}
	if len(out.Evidence) == 0 || string(out.Evidence) == "null" {
		return nil, errors.New("kbs attestation: tee-evidence is missing")
	}
	var bound any = a.RuntimeData
	if composite {
		bound = map[string]json.RawMessage{"tee-pubkey": rd.TEEPubKey, "nonce": mustMarshal(rd.Nonce), "additional-evidence": mustMarshal(comp.Additional)}
	}
	if out.bound, err = canonicalJSON(bound); err != nil {
		return nil, fmt.Errorf("kbs attestation: %w", err)
	}
	return out, nil
}

func mustMarshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// KBSReportData is the report data the primary evidence must carry:
// SHA-384 of the bound canonical JSON, zero-padded to 64 bytes for TEEs
// whose report data is 64 bytes (all but TPM quotes, which carry the 48).
func KBSReportData(tee string, bound []byte) []byte {
	d := sha512.Sum384(bound)
	if tee == "tpm" || tee == "tpm-sim" {
		return d[:]
	}
	out := make([]byte, 64)
	copy(out, d[:])
	return out
}

func (b *Broker) kbsAuth(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeKBSError(w, http.StatusBadRequest, "request", err.Error())
		return
	}
	rq, err := ParseKBSRequest(body)
	if err != nil {
		writeKBSError(w, http.StatusBadRequest, "request", err.Error())
		return
	}
	ch, err := b.Challenge(rq.TEE)
	if err != nil {
		writeKBSError(w, http.StatusServiceUnavailable, "busy", err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: kbsCookie, Value: ch.Session, Path: "/kbs", HttpOnly: true, Secure: r.TLS != nil, MaxAge: int(SessionTTL.Seconds())})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(KBSChallenge{Nonce: base64.StdEncoding.EncodeToString(ch.Nonce),
		ExtraParams: json.RawMessage(`{"selected-hash-algorithm":"sha384"}`)})
}

func (b *Broker) kbsAttest(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ck, err := r.Cookie(kbsCookie)
	if err != nil {
		writeKBSError(w, http.StatusUnauthorized, "session", "no kbs-session-id cookie: POST /kbs/v0/auth first")
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeKBSError(w, http.StatusBadRequest, "request", err.Error())
		return
	}
	at, err := ParseKBSAttestation(body)
	if err != nil {
		rf := b.logRefusal(ctx, "", Claims{}, Workload{}, "", refuse("request", "%v", err))
		writeKBSError(w, http.StatusBadRequest, rf.Code, rf.Detail) // says so if the refusal could not be logged
		return
	}
	tee := b.ss.teeOf(ck.Value)
	ss, c, wl, rf := b.verify(ck.Value, tee, at.Evidence, at.Additional, func([]byte) []byte { return KBSReportData(tee, at.bound) }, true)
	if rf == nil && at.Nonce != base64.StdEncoding.EncodeToString(ss.nonce) {
		rf = refuse("binding", "runtime-data nonce is not this session's challenge")
	}
	if rf != nil {
		_ = b.logRefusal(ctx, tee, c, wl, "", rf)
		writeKBSError(w, http.StatusUnauthorized, rf.Code, rf.Detail)
		return
	}
	var ka map[string]any
	if err := json.Unmarshal(at.Key.jwk, &ka); err != nil {
		writeKBSError(w, http.StatusInternalServerError, "token", "the attested key's JWK does not decode: "+err.Error())
		return
	}
	tok, err := b.token(tee, c, wl, decision{}, ss.nonce, map[string]any{"akpub": ka})
	if err != nil {
		writeKBSError(w, http.StatusInternalServerError, "token", err.Error())
		return
	}
	b.ss.attest(ck.Value, &attested{claims: c, workload: wl, pub: at.Key, token: tok}, b.o.Now())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

func (b *Broker) kbsResource(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	repo, typ, tag := r.PathValue("repo"), r.PathValue("type"), r.PathValue("tag")
	ck, err := r.Cookie(kbsCookie)
	if err != nil {
		writeKBSError(w, http.StatusUnauthorized, "session", "no kbs-session-id cookie: attest first")
		return
	}
	a, err := b.ss.result(ck.Value, b.o.Now())
	if err != nil {
		writeKBSError(w, http.StatusUnauthorized, "session", err.Error())
		return
	}
	if (repo != "embassy" && repo != b.o.Home) || typ != kbsResource {
		writeKBSError(w, http.StatusNotFound, "resource", fmt.Sprintf("resource %s/%s/%s: the broker serves embassy/dataset/<name>", repo, typ, tag))
		return
	}
	if err := validDataset(tag); err != nil {
		writeKBSError(w, http.StatusNotFound, "resource", err.Error())
		return
	}
	tee := a.claims.TEE
	if tee == "" {
		tee = b.ss.teeOf(ck.Value)
	}
	var jwe []byte
	_, _, rf := b.release(ctx, tee, a.claims, a.workload, tag, func(plain []byte) error {
		var err error
		jwe, err = encryptJWE(a.pub, plain)
		return err
	})
	if rf != nil {
		_ = b.logRefusal(ctx, tee, a.claims, a.workload, tag, rf)
		writeKBSError(w, http.StatusForbidden, rf.Code, rf.Detail)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(jwe) // released and logged; a client gone before the answer asks again
}
