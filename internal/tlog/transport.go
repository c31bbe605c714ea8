package tlog

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// transport routes witness requests: hosts listed in local go to in-process
// handlers (the home witness), the rest to the network. Every refusal by a
// witness (a fork, a rollback, a bad proof or signature) is recorded in the
// log's alerts file, so it is raised on the log's side too.
type transport struct {
	local  map[string]http.Handler
	next   http.RoundTripper
	alerts string

	mu   sync.Mutex
	last *WitnessAlert
}

// WitnessAlert is a witness refusal seen by the log.
type WitnessAlert struct {
	Time   time.Time `json:"time"`
	URL    string    `json:"url"`
	Status int       `json:"status"`
	Kind   string    `json:"kind"` // conflict, bad-proof, bad-signature, unknown-log, bad-request, unreachable
	Body   string    `json:"body,omitempty"`
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	if h, ok := t.local[req.URL.Host]; ok {
		rec := &recorder{header: http.Header{}, code: http.StatusOK}
		h.ServeHTTP(rec, req)
		resp = &http.Response{StatusCode: rec.code, Status: http.StatusText(rec.code), Header: rec.header,
			Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), Request: req, ProtoMajor: 1, ProtoMinor: 1,
			ContentLength: int64(rec.body.Len())}
	} else {
		var err error
		resp, err = t.next.RoundTrip(req)
		if err != nil {
			t.record(WitnessAlert{Time: time.Now().UTC(), URL: req.URL.String(), Kind: "unreachable", Body: err.Error()})
			return nil, err
		}
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	if resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") == "text/x.tlog.size" {
		return resp, nil // the normal "your view of my size is stale" exchange
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	kind := map[int]string{http.StatusConflict: "conflict", http.StatusUnprocessableEntity: "bad-proof",
		http.StatusForbidden: "bad-signature", http.StatusNotFound: "unknown-log", http.StatusBadRequest: "bad-request"}[resp.StatusCode]
	if kind == "" {
		kind = "error"
	}
	t.record(WitnessAlert{Time: time.Now().UTC(), URL: req.URL.String(), Status: resp.StatusCode, Kind: kind, Body: strings.TrimSpace(string(body))})
	return resp, nil
}

func (t *transport) record(a WitnessAlert) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = &a
	if t.alerts == "" {
		return
	}
	b, _ := json.Marshal(a)
	f, err := os.OpenFile(t.alerts, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	_, _ = f.Write(append(b, '\n'))
	_ = f.Sync()
	f.Close()
}

func (t *transport) lastAlert() *WitnessAlert {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code = code
		r.wrote = true
	}
}

// ReadAlerts returns the witness refusals recorded in a log's alerts file.
func ReadAlerts(file string) ([]WitnessAlert, error) {
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []WitnessAlert
	for _, line := range bytes.Split(b, []byte("\n")) {
		var a WitnessAlert
		if len(line) > 0 && json.Unmarshal(line, &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}
