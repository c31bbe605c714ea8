package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	f_log "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// MaxLatest bounds a GET /latest answer: the log's checkpoint as the
// witness stored it (at most MaxRequest) and one more cosignature line.
const MaxLatest = MaxRequest + 8<<10

// ReadsPerSource is how many GET /latest requests a source address may make
// per AlertWindow before it is answered 429.
const ReadsPerSource = 120

// ErrNoCheckpoint is returned by FetchLatest when the witness has cosigned
// no checkpoint of the log.
var ErrNoCheckpoint = errors.New("the witness has cosigned no checkpoint of this log")

// serveLatest answers GET /latest?origin=O with the newest checkpoint the
// witness cosigned for log O: the log's signed note as the witness stored
// it, followed by a fresh cosignature of the witness over the same text.
// 404 when it cosigned none (or does not know the log).
func (w *Witness) serveLatest(rw http.ResponseWriter, req *http.Request) {
	src := sourceOf(req.RemoteAddr)
	if !w.reads.allow(src) {
		rw.Header().Set("Retry-After", "60")
		http.Error(rw, "too many requests from this address", http.StatusTooManyRequests)
		return
	}
	w.reads.fail(src) // every read counts against the budget
	origin := req.URL.Query().Get("origin")
	w.mu.Lock()
	_, known := w.logs[origin]
	w.mu.Unlock()
	if !known {
		http.Error(rw, "unknown log", http.StatusNotFound)
		return
	}
	st, err := w.load(origin)
	if err != nil {
		http.Error(rw, "read state", http.StatusInternalServerError)
		return
	}
	if st.Checkpoint == "" {
		http.Error(rw, ErrNoCheckpoint.Error(), http.StatusNotFound)
		return
	}
	text, _, ok := strings.Cut(st.Checkpoint, "\n\n")
	if !ok {
		http.Error(rw, "stored checkpoint is damaged", http.StatusInternalServerError)
		return
	}
	signed, err := note.Sign(&note.Note{Text: text + "\n"}, w.signer)
	if err != nil {
		http.Error(rw, "sign", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// A client gone before the answer: nothing to do.
	if _, err := io.WriteString(rw, st.Checkpoint); err == nil {
		_, _ = rw.Write(signed[len(text)+2:])
	}
}

// Latest is a witness's answer to GET /latest, checked.
type Latest struct {
	Checkpoint *f_log.Checkpoint
	Note       []byte // the checkpoint with the log's signature and the witness's cosignature
}

// ParseLatest checks a GET /latest answer: a checkpoint of origin signed by
// the log (logV) and cosigned by the witness (witV). Every byte may come
// from an adversary; anything else is an error.
func ParseLatest(body []byte, origin string, logV, witV note.Verifier) (*Latest, error) {
	if len(body) > MaxLatest {
		return nil, fmt.Errorf("answer larger than %d bytes", MaxLatest)
	}
	cp, _, n, err := f_log.ParseCheckpoint(body, origin, logV, witV)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	cosigned := false
	for _, s := range n.Sigs {
		if s.Hash == witV.KeyHash() && s.Name == witV.Name() {
			cosigned = true
		}
	}
	if !cosigned {
		return nil, errors.New("checkpoint does not carry the witness's cosignature")
	}
	return &Latest{Checkpoint: cp, Note: bytes.Clone(body)}, nil
}

// FetchLatest asks the witness at base (its URL in the log policy) for the
// newest checkpoint it cosigned of origin and checks it (ParseLatest).
func FetchLatest(ctx context.Context, hc *http.Client, base, origin string, logV, witV note.Verifier) (*Latest, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("witness URL %q is not an http(s) URL", base)
	}
	u = u.JoinPath("latest")
	u.RawQuery = url.Values{"origin": {origin}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxLatest+1))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, ErrNoCheckpoint
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("witness answered %s", resp.Status)
	}
	return ParseLatest(body, origin, logV, witV)
}
