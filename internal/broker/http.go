package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/strict"
)

// Handler serves the native API (/v1/...), the KBS API (/kbs/v0/...) and
// GET /metrics (counts only, public like /v1/info: docs/METRICS.md).
func (b *Broker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/challenge", b.instrument("challenge", "", b.apiChallenge))
	mux.HandleFunc("POST /v1/release", b.instrument("release", "native", b.apiRelease))
	mux.HandleFunc("GET /v1/info", b.instrument("info", "", b.apiInfo))
	mux.HandleFunc("POST /kbs/v0/auth", b.instrument("kbs_auth", "", b.kbsAuth))
	mux.HandleFunc("POST /kbs/v0/attest", b.instrument("kbs_attest", "", b.kbsAttest))
	mux.HandleFunc("GET /kbs/v0/resource/{repo}/{type}/{tag}", b.instrument("kbs_resource", "kbs", b.kbsResource))
	mux.HandleFunc("GET /metrics", b.instrument("metrics", "", metrics.Handler(b.m.reg).ServeHTTP))
	return mux
}

// APIError is the native API's error body.
type APIError struct {
	Error  string `json:"error"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client gone before the answer: nothing to do
}

// ChallengeRequest asks for a nonce.
type ChallengeRequest struct {
	TEE string `json:"tee"`
}

// ParseChallengeRequest decodes a challenge request strictly.
func ParseChallengeRequest(b []byte) (*ChallengeRequest, error) {
	var rq ChallengeRequest
	if err := strict.JSON(b, &rq); err != nil {
		return nil, fmt.Errorf("challenge request: %w", err)
	}
	if !nameRE().MatchString(rq.TEE) {
		return nil, fmt.Errorf("challenge request: tee %q is not valid", rq.TEE)
	}
	return &rq, nil
}

// ParseReleaseRequest decodes a release request strictly.
func ParseReleaseRequest(b []byte) (*ReleaseRequest, error) {
	var rq ReleaseRequest
	if err := strict.JSON(b, &rq); err != nil {
		return nil, fmt.Errorf("release request: %w", err)
	}
	if rq.Session == "" || len(rq.Session) > 64 || !nameRE().MatchString(rq.TEE) || len(rq.Evidence) == 0 {
		return nil, errors.New("release request: session, tee and evidence are required")
	}
	return &rq, nil
}

func (b *Broker) apiChallenge(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad request", Code: "request", Detail: err.Error()})
		return
	}
	rq, err := ParseChallengeRequest(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad request", Code: "request", Detail: err.Error()})
		return
	}
	ch, err := b.Challenge(rq.TEE)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, APIError{Error: "busy", Code: "busy", Detail: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, ch)
}

func (b *Broker) apiRelease(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad request", Code: "request", Detail: err.Error()})
		return
	}
	rq, err := ParseReleaseRequest(body)
	if err != nil {
		rf := b.logRefusal(r.Context(), "", Claims{}, Workload{}, "", refuse("request", "%v", err))
		writeJSON(w, http.StatusBadRequest, APIError{Error: "bad request", Code: rf.Code, Detail: rf.Detail}) // says so if the refusal could not be logged
		return
	}
	resp, err := b.Release(r.Context(), *rq)
	var rf *Refusal
	if errors.As(err, &rf) {
		writeJSON(w, http.StatusForbidden, APIError{Error: "refused", Code: rf.Code, Detail: rf.Detail})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, APIError{Error: "internal", Code: "internal", Detail: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// Info is the broker's public description.
type Info struct {
	Home   string `json:"home"`
	EARKey []byte `json:"ear_key"` // Ed25519 public key verifying the tokens
	KBS    string `json:"kbs_version"`
}

func (b *Broker) apiInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Info{Home: b.o.Home, EARKey: b.EARPublicKey(), KBS: KBSVersion})
}
