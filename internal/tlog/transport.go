package tlog

import (
	"bytes"
	"encoding/json"
	"fmt"
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

	mu       sync.Mutex
	last     *WitnessAlert
	episodes map[string]*episode // open episodes by alertKey
}

// WitnessAlert is a witness refusal seen by the log. A refusal that repeats
// (a witness down retried at every checkpoint interval) is one alert, one
// episode: First is when it began, Time when it was last seen and Count how
// many times; its line is written when it begins and again, with the same
// First, when it ends, at most every summaryEvery while it lasts, and when
// the log is closed. ReadAlerts merges the lines of an episode.
type WitnessAlert struct {
	Time   time.Time `json:"time"`
	First  time.Time `json:"first,omitzero"`
	Count  int       `json:"count,omitempty"`
	URL    string    `json:"url"`
	Status int       `json:"status"`
	Kind   string    `json:"kind"` // conflict, bad-proof, bad-signature, unknown-log, bad-request, unreachable
	Body   string    `json:"body,omitempty"`
}

// summaryEvery bounds how often a lasting episode's line is rewritten.
const summaryEvery = 10 * time.Minute

type episode struct {
	a       WitnessAlert
	written time.Time // when its last line was written
	dirty   bool      // seen again since
}

// alertKey identifies an episode: the same witness endpoint refusing in the
// same way.
func alertKey(a WitnessAlert) string {
	u, _, _ := strings.Cut(a.URL, "?")
	return fmt.Sprintf("%s %d %s", a.Kind, a.Status, u)
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
		t.recovered(req.URL.String())
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

// record notes a refusal: a new episode is written at once, a repeat only
// updates the open episode (written at most every summaryEvery, and when
// the episode ends or the log closes).
func (t *transport) record(a WitnessAlert) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.episodes == nil {
		t.episodes = map[string]*episode{}
	}
	k := alertKey(a)
	ep := t.episodes[k]
	if ep == nil {
		a.First, a.Count = a.Time, 1
		ep = &episode{a: a, written: a.Time}
		t.episodes[k] = ep
		t.write(ep.a)
	} else {
		ep.a.Count++
		ep.a.Time, ep.a.Body = a.Time, a.Body
		ep.dirty = true
		if a.Time.Sub(ep.written) >= summaryEvery {
			t.write(ep.a)
			ep.written, ep.dirty = a.Time, false
		}
	}
	last := ep.a
	t.last = &last
}

// recovered ends the episodes of the witness at url: it answered.
func (t *transport) recovered(url string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, _, _ := strings.Cut(url, "?")
	for k, ep := range t.episodes {
		if eu, _, _ := strings.Cut(ep.a.URL, "?"); eu == u {
			if ep.dirty {
				t.write(ep.a)
			}
			delete(t.episodes, k)
		}
	}
}

// flush writes the open episodes seen again since their last line.
func (t *transport) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ep := range t.episodes {
		if ep.dirty {
			t.write(ep.a)
			ep.written, ep.dirty = ep.a.Time, false
		}
	}
}

// write appends one line to the alerts file (best effort: the refusal is
// also in the error the caller gets). The caller holds t.mu.
func (t *transport) write(a WitnessAlert) {
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

// ReadAlerts returns the witness refusals recorded in a log's alerts file,
// one per episode (the lines of an episode share its key and First; the
// last one read wins).
func ReadAlerts(file string) ([]WitnessAlert, error) {
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []WitnessAlert
	at := map[string]int{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var a WitnessAlert
		if len(line) == 0 || json.Unmarshal(line, &a) != nil {
			continue
		}
		if a.Count < 1 {
			a.Count = 1 // a line written before episodes existed
		}
		if a.First.IsZero() {
			a.First = a.Time
			out = append(out, a)
			continue
		}
		k := alertKey(a) + " " + a.First.UTC().Format(time.RFC3339Nano)
		if i, ok := at[k]; ok {
			if a.Count >= out[i].Count {
				out[i] = a
			}
			continue
		}
		at[k] = len(out)
		out = append(out, a)
	}
	return out, nil
}

// AlertGroup is the alerts of one witness endpoint refusing in one way,
// across episodes: how 'embassy audit check' shows them.
type AlertGroup struct {
	URL      string    `json:"url"`
	Status   int       `json:"status"`
	Kind     string    `json:"kind"`
	Count    int       `json:"count"`    // refusals seen
	Episodes int       `json:"episodes"` // separate outages or refusals
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Body     string    `json:"body,omitempty"` // the last one's
}

// GroupAlerts groups alerts by endpoint and kind, in order of first
// appearance.
func GroupAlerts(as []WitnessAlert) []AlertGroup {
	var out []AlertGroup
	at := map[string]int{}
	for _, a := range as {
		k := alertKey(a)
		i, ok := at[k]
		if !ok {
			u, _, _ := strings.Cut(a.URL, "?")
			at[k], i = len(out), len(out)
			out = append(out, AlertGroup{URL: u, Status: a.Status, Kind: a.Kind, First: a.First, Last: a.Time})
		}
		g := &out[i]
		g.Count += max(a.Count, 1)
		g.Episodes++
		if a.First.Before(g.First) {
			g.First = a.First
		}
		if !a.Time.Before(g.Last) {
			g.Last, g.Body = a.Time, a.Body
		}
	}
	return out
}
