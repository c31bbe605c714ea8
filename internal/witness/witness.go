// Package witness is a C2SP tlog-witness: it cosigns a log's checkpoint only
// after checking that it is consistent with the last checkpoint it cosigned
// for that log, and persists the new size and root atomically before it
// answers. Forks, rollbacks and bad proofs are refused with the protocol's
// status codes and recorded as alerts (JSON lines) in the witness directory.
package witness

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"crypto/sha256"
	"encoding/hex"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/metrics"
)

// AlertsFile is the witness's alert journal inside its directory.
const AlertsFile = "alerts.jsonl"

// Witness cosigns checkpoints of known logs with one cosigner key.
type Witness struct {
	dir    string
	signer note.Signer
	logs   map[string]note.Verifier // origin -> log key
	log    *slog.Logger
	now    func() time.Time

	mu sync.Mutex

	alertMu sync.Mutex
	noise   map[string]*noiseAlert // kind -> pending aggregate
	limit   *failureLimiter
	reads   *failureLimiter // GET /latest requests per source
	metrics *witnessMetrics
}

// noiseAlert aggregates refusals anyone can provoke (checkpoints of unknown
// logs, bad signatures): one alert per kind per AlertWindow, with a count.
type noiseAlert struct {
	last  time.Time
	count int
}

// Alert bounds.
const (
	AlertWindow        = time.Minute
	MaxAlertsFile      = 16 << 20 // then alerts.jsonl moves to alerts.jsonl.1
	maxAlertCheckpoint = 16 << 10 // of a checkpoint signed by the log
	maxAlertField      = 256
)

// Config configures New.
type Config struct {
	Dir    string      // state and alerts; shared by every process serving this witness
	Signer note.Signer // cosignature/v1 Ed25519 or ML-DSA-44 signer (formats/note)
	Logs   []string    // vkeys of the logs it witnesses; the key name is the origin
	Logger *slog.Logger
}

// New returns a witness.
func New(c Config) (*Witness, error) {
	if c.Signer == nil {
		return nil, errors.New("witness: no signer")
	}
	w := &Witness{dir: c.Dir, signer: c.Signer, logs: map[string]note.Verifier{}, log: c.Logger, now: time.Now,
		noise: map[string]*noiseAlert{}, limit: newFailureLimiter(FailuresPerSource, AlertWindow, 4096),
		reads:   newFailureLimiter(ReadsPerSource, AlertWindow, 4096),
		metrics: newWitnessMetrics()}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	for _, k := range c.Logs {
		if err := w.AddLog(k); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "state"), 0o700); err != nil {
		return nil, err
	}
	return w, nil
}

// AddLog trusts another log's key.
func (w *Witness) AddLog(vkey string) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("witness: log key: %v", err)
	}
	w.mu.Lock()
	w.logs[v.Name()] = v
	w.mu.Unlock()
	return nil
}

// Name is the cosigner's key name.
func (w *Witness) Name() string { return w.signer.Name() }

// State is what the witness remembers about one log.
type State struct {
	Origin     string    `json:"origin"`
	Size       uint64    `json:"size"`
	Hash       []byte    `json:"hash"`
	Checkpoint string    `json:"checkpoint"`
	Time       time.Time `json:"time"`
}

// Alert is a refused checkpoint.
type Alert struct {
	Time       time.Time `json:"time"`
	Witness    string    `json:"witness"`
	Kind       string    `json:"kind"` // rollback, fork, bad-proof, bad-signature, unknown-log
	Origin     string    `json:"origin,omitempty"`
	Size       uint64    `json:"size,omitempty"`
	Hash       []byte    `json:"hash,omitempty"`
	KnownSize  uint64    `json:"known_size,omitempty"`
	KnownHash  []byte    `json:"known_hash,omitempty"`
	Checkpoint string    `json:"checkpoint,omitempty"`
	Message    string    `json:"message"`
	// Count is set on aggregated alerts (unknown-log, bad-signature): the
	// refusals of that kind since the previous alert of the kind.
	Count int `json:"count,omitempty"`
	// BodySHA256 identifies an unsigned request whose text is not kept.
	BodySHA256 string `json:"body_sha256,omitempty"`
}

// Error is a refusal with its tlog-witness status code.
type Error struct {
	Code int
	Msg  string
	Size uint64 // for 409 stale-size answers
	// Stale is true for the benign 409 that tells the log our size.
	Stale bool
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Msg) }

// Request is a parsed add-checkpoint request.
type Request struct {
	Old        uint64
	Proof      [][]byte
	Checkpoint []byte
}

// ParseRequest decodes an add-checkpoint body.
func ParseRequest(body []byte) (Request, error) {
	var r Request
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return r, errors.New("missing old size line")
	}
	s, found := strings.CutPrefix(string(line), "old ")
	if !found {
		return r, errors.New("missing old size line")
	}
	old, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(old, 10) != s {
		return r, fmt.Errorf("invalid old size %q", s)
	}
	r.Old = old
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return r, errors.New("missing blank line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(r.Proof) == 63 {
			return r, errors.New("consistency proof has more than 63 lines")
		}
		h, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil || len(h) != sha256.Size {
			return r, errors.New("invalid consistency proof line")
		}
		r.Proof = append(r.Proof, h)
	}
	r.Checkpoint = rest
	return r, nil
}

// AddCheckpoint runs the tlog-witness checks and returns the cosignature
// lines ("— name base64\n") on success.
func (w *Witness) AddCheckpoint(r Request) ([]byte, error) {
	origin, _, _ := strings.Cut(string(r.Checkpoint), "\n")
	w.mu.Lock()
	v, ok := w.logs[origin]
	w.mu.Unlock()
	if !ok {
		w.noiseAlert(Alert{Kind: "unknown-log", Origin: origin, Message: "checkpoint from an unknown log"}, r.Checkpoint)
		return nil, &Error{Code: http.StatusNotFound, Msg: "unknown log"}
	}
	cp, _, n, err := f_log.ParseCheckpoint(r.Checkpoint, origin, v)
	if err != nil {
		w.noiseAlert(Alert{Kind: "bad-signature", Origin: origin, Message: err.Error()}, r.Checkpoint)
		return nil, &Error{Code: http.StatusForbidden, Msg: "checkpoint signature does not verify"}
	}
	if r.Old > cp.Size {
		return nil, &Error{Code: http.StatusBadRequest, Msg: "old size is larger than the checkpoint"}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	unlock, err := w.lockState()
	if err != nil {
		return nil, &Error{Code: http.StatusInternalServerError, Msg: "lock state"}
	}
	defer unlock()
	st, err := w.load(origin)
	if err != nil {
		return nil, &Error{Code: http.StatusInternalServerError, Msg: "read state"}
	}
	base := Alert{Origin: origin, Size: cp.Size, Hash: cp.Hash, KnownSize: st.Size, KnownHash: st.Hash, Checkpoint: string(r.Checkpoint)}
	if cp.Size < st.Size {
		a := base
		a.Kind, a.Message = "rollback", fmt.Sprintf("checkpoint of size %d is older than the cosigned size %d", cp.Size, st.Size)
		w.alert(a)
		return nil, &Error{Code: http.StatusConflict, Msg: a.Message, Size: st.Size, Stale: true}
	}
	if r.Old != st.Size {
		return nil, &Error{Code: http.StatusConflict, Msg: "old size does not match", Size: st.Size, Stale: true}
	}
	if cp.Size == st.Size {
		if st.Size > 0 && !bytes.Equal(cp.Hash, st.Hash) {
			a := base
			a.Kind, a.Message = "fork", fmt.Sprintf("two different trees of size %d", cp.Size)
			w.alert(a)
			return nil, &Error{Code: http.StatusConflict, Msg: a.Message}
		}
	} else if st.Size > 0 {
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, st.Size, cp.Size, r.Proof, st.Hash, cp.Hash); err != nil {
			a := base
			a.Kind, a.Message = "fork", fmt.Sprintf("checkpoint of size %d is not consistent with the cosigned size %d: %v", cp.Size, st.Size, err)
			w.alert(a)
			return nil, &Error{Code: http.StatusUnprocessableEntity, Msg: "consistency proof does not verify"}
		}
	}
	if cp.Size > st.Size || st.Checkpoint == "" {
		ns := State{Origin: origin, Size: cp.Size, Hash: cp.Hash, Checkpoint: string(r.Checkpoint), Time: w.now().UTC()}
		if err := w.save(ns); err != nil {
			w.log.Error("witness: persist state", "origin", origin, "err", err)
			return nil, &Error{Code: http.StatusInternalServerError, Msg: "persist state"}
		}
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, &Error{Code: http.StatusInternalServerError, Msg: "sign"}
	}
	return signed[len(n.Text)+1:], nil
}

func (w *Witness) statePath(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(w.dir, "state", hex.EncodeToString(h[:16])+".json")
}

// lockState takes an exclusive flock so that several processes serving the
// same witness directory (CLI commands) check and persist one at a time.
func (w *Witness) lockState() (func(), error) {
	f, err := os.OpenFile(filepath.Join(w.dir, "state", ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil // closing the file drops the lock anyway
}

// Latest returns the witness's state for origin (size 0 if none).
func (w *Witness) Latest(origin string) (State, error) { return w.load(origin) }

func (w *Witness) load(origin string) (State, error) {
	b, err := os.ReadFile(w.statePath(origin))
	if errors.Is(err, os.ErrNotExist) {
		return State{Origin: origin}, nil
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil || st.Origin != origin {
		return State{}, fmt.Errorf("witness state for %s is damaged", origin)
	}
	return st, nil
}

func (w *Witness) save(st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.Write(w.statePath(st.Origin), b, 0o600)
}

// alert records a refusal of a checkpoint the log signed (rollback, fork,
// bad proof): evidence against the log, kept with the checkpoint (bounded).
func (w *Witness) alert(a Alert) {
	if len(a.Checkpoint) > maxAlertCheckpoint {
		a.Checkpoint = a.Checkpoint[:maxAlertCheckpoint]
	}
	w.writeAlert(a)
}

// noiseAlert records a refusal anyone can provoke without the log's key:
// aggregated per kind (one alert per AlertWindow with a count), with the
// unsigned text replaced by its hash, so that junk requests cannot grow
// the alerts file or fill the disk with fsynced copies of themselves.
func (w *Witness) noiseAlert(a Alert, body []byte) {
	now := w.now()
	w.alertMu.Lock()
	na := w.noise[a.Kind]
	if na == nil {
		na = &noiseAlert{}
		w.noise[a.Kind] = na
	}
	na.count++
	if !na.last.IsZero() && now.Sub(na.last) < AlertWindow {
		w.alertMu.Unlock()
		return
	}
	a.Count, na.count, na.last = na.count, 0, now
	w.alertMu.Unlock()
	sum := sha256.Sum256(body)
	a.BodySHA256 = hex.EncodeToString(sum[:])
	a.Origin = clip(a.Origin, maxAlertField)
	a.Message = clip(a.Message, maxAlertField)
	w.writeAlert(a)
}

func clip(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}

func (w *Witness) writeAlert(a Alert) {
	a.Time = w.now().UTC()
	a.Witness = w.signer.Name()
	w.log.Warn("witness refused a checkpoint", "kind", a.Kind, "origin", a.Origin, "size", a.Size, "count", a.Count)
	b, _ := json.Marshal(a)
	w.alertMu.Lock()
	defer w.alertMu.Unlock()
	path := filepath.Join(w.dir, AlertsFile)
	if st, err := os.Stat(path); err == nil && st.Size()+int64(len(b)) > MaxAlertsFile {
		if err := os.Rename(path, path+".1"); err != nil {
			w.log.Error("witness: rotate alerts", "err", err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err == nil {
		if _, err = f.Write(append(b, '\n')); err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		// The refusal stands; only its record in the alerts file is lost.
		w.log.Error("witness: alert not recorded in "+AlertsFile, "kind", a.Kind, "err", err)
	}
}

// ReadAlerts returns the alerts recorded in dir (the rotated file first).
func ReadAlerts(dir string) ([]Alert, error) {
	old, err := readAlertsFile(filepath.Join(dir, AlertsFile+".1"))
	if err != nil {
		return nil, err
	}
	cur, err := readAlertsFile(filepath.Join(dir, AlertsFile))
	return append(old, cur...), err
}

func readAlertsFile(path string) ([]Alert, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Alert
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 2*maxAlertCheckpoint+64<<10)
	for sc.Scan() {
		var a Alert
		if json.Unmarshal(sc.Bytes(), &a) == nil {
			out = append(out, a)
		}
	}
	return out, sc.Err()
}

// Handler serves POST /add-checkpoint (C2SP tlog-witness), GET /latest
// (the newest checkpoint it cosigned of a log, see FetchLatest) and GET
// /metrics (Prometheus); all behind the same TLS as add-checkpoint.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.instrument("add-checkpoint", w.serveAdd))
	mux.HandleFunc("GET /latest", w.instrument("latest", w.serveLatest))
	mux.HandleFunc("GET /metrics", w.instrument("metrics", metrics.Handler(w.metrics.reg).ServeHTTP))
	return mux
}

// MaxRequest bounds add-checkpoint bodies: a checkpoint with a few
// cosignatures (ML-DSA-44 ones are 3.3 KB in base64) and 63 proof lines
// fit many times over.
const MaxRequest = 64 << 10

// FailuresPerSource is how many refused requests a source address may make
// per AlertWindow before it is answered 429 without its body being read.
const FailuresPerSource = 32

func (w *Witness) serveAdd(rw http.ResponseWriter, req *http.Request) {
	src := sourceOf(req.RemoteAddr)
	if !w.limit.allow(src) {
		rw.Header().Set("Retry-After", "60")
		http.Error(rw, "too many refused requests from this address", http.StatusTooManyRequests)
		return
	}
	if req.ContentLength > MaxRequest {
		w.limit.fail(src)
		http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxRequest+1))
	if err != nil || len(body) > MaxRequest {
		w.limit.fail(src)
		http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	r, err := ParseRequest(body)
	if err != nil {
		w.limit.fail(src)
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	sigs, err := w.AddCheckpoint(r)
	if err != nil {
		var we *Error
		if !errors.As(err, &we) {
			http.Error(rw, "internal error", http.StatusInternalServerError)
			return
		}
		if !we.Stale && we.Code < 500 {
			w.limit.fail(src)
		}
		if we.Stale {
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", we.Size)
			return
		}
		http.Error(rw, we.Msg, we.Code)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = rw.Write(sigs) // a client gone before the answer: nothing to do
}
