package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/pki"
)

// Access held pending the home's approval (framework requirement 22,
// enforced at the site). A host operator files a request (POST
// /v1/access: reason code, scope, duration); the daemon keeps it, bounded
// and in a file that survives restarts, and refuses the privileged
// operation of its scope (GET /v1/maintenance/list/{kind} for "metadata")
// until it holds a decision signed by the home's access key it was
// configured with (POST /v1/access/{id}/decision, see internal/approval).
// The signature is what counts, not who carries it: home and operator
// certificates may deliver a decision. The file keeps each decision's
// signed bytes and every status is re-derived from them on load, so an
// edited file grants nothing.

// Bounds of the access requests held.
const (
	maxAccessBody    = 8 << 10
	maxDecisionBody  = 4 << 10
	MaxPendingAccess = 32  // pending requests held; more are refused until the home decides
	MaxAccessRecords = 256 // requests held in all; the oldest decided ones go first
	maxRecordFile    = 16 << 20
)

// accessRecord is one request with the home's signed decision, if any.
type accessRecord struct {
	approval.HostRequest
	Decision []byte `json:"decision,omitempty"` // the signed note as the home sent it
}

// accessStore holds the requests.
type accessStore struct {
	mu       sync.Mutex
	path     string
	recs     []accessRecord
	verifier note.Verifier // nil: no home access key, nothing is ever approved
	home     string
	site     string
	log      *slog.Logger
}

func newAccessStore(path, vkey, home, site string, log *slog.Logger) (*accessStore, error) {
	st := &accessStore{path: path, home: home, site: site, log: log}
	if vkey = strings.TrimSpace(vkey); vkey != "" {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("home access key: %w (give the line 'embassy access key' prints)", err)
		}
		st.verifier = v
	}
	if err := readRecordFile(path, &st.recs); err != nil {
		return nil, fmt.Errorf("access file: %w", err)
	}
	// Statuses come from the signed decisions only.
	for i := range st.recs {
		r := &st.recs[i]
		r.Status, r.Expires = approval.Pending, time.Time{}
		if len(r.Decision) == 0 {
			continue
		}
		d, err := st.check(r, r.Decision, time.Time{})
		if err != nil {
			log.Warn("access file: a decision does not verify; the request is pending again", "request", r.ID, "err", err)
			r.Decision = nil
			continue
		}
		r.Status, r.Expires = decisionStatus(d), d.Expires
	}
	return st, nil
}

func decisionStatus(d approval.Decision) string {
	if d.Approved {
		return approval.Approved
	}
	return approval.Denied
}

// readRecordFile loads a JSON array kept by writeRecordFile; a missing
// file is empty.
func readRecordFile(path string, v any) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecordFile+1))
	if err != nil {
		return err
	}
	if len(b) > maxRecordFile {
		return fmt.Errorf("%s is larger than %d bytes", path, maxRecordFile)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeRecordFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

// newID is a random request or incident id: 32 hex digits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// check verifies a signed decision for r; with a non-zero now an approval
// must also be unexpired and no longer than the request asked for (a
// denial stands whenever it arrives).
func (st *accessStore) check(r *accessRecord, msg []byte, now time.Time) (approval.Decision, error) {
	d, err := approval.OpenDecision(msg, st.verifier)
	if err != nil {
		return d, err
	}
	asked, _ := time.ParseDuration(r.Duration)
	switch {
	case d.Home != st.home || st.home == "":
		return d, fmt.Errorf("the decision is for home %q, this daemon serves %q", d.Home, st.home)
	case d.Site != st.site:
		return d, fmt.Errorf("the decision is for site %q, this is %q", d.Site, st.site)
	case d.Request != r.ID:
		return d, fmt.Errorf("the decision is for request %s, not %s", d.Request, r.ID)
	case d.Requester != r.Requester || d.Scope != r.Scope:
		return d, errors.New("the decision names another requester or scope than the request")
	case !d.Approved:
		// a denial only takes away: it stands whenever it arrives
	case !now.IsZero() && !d.Expires.After(now):
		return d, fmt.Errorf("the decision expired at %s", d.Expires.Format(time.RFC3339))
	case !now.IsZero() && d.Expires.Sub(now) > asked+5*time.Minute:
		return d, fmt.Errorf("the decision runs to %s, longer than the %s asked for", d.Expires.Format(time.RFC3339), r.Duration)
	}
	return d, nil
}

func (st *accessStore) find(id string) int {
	for i := range st.recs {
		if st.recs[i].ID == id {
			return i
		}
	}
	return -1
}

func (st *accessStore) list() []approval.HostRequest {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]approval.HostRequest, 0, len(st.recs))
	for _, r := range st.recs {
		out = append(out, r.HostRequest)
	}
	return out
}

// grant returns the approved, unexpired request of scope filed by
// identity, if there is one.
func (st *accessStore) grant(identity, scope string, now time.Time) (approval.HostRequest, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range st.recs {
		if r.Requester == identity && r.Scope == scope && r.Status == approval.Approved && r.Expires.After(now) {
			return r.HostRequest, true
		}
	}
	return approval.HostRequest{}, false
}

// decodeAccessFiling reads and checks a request body written by a host
// operator: bounded, known fields only, one JSON value.
func decodeAccessFiling(body io.Reader) (approval.Filing, error) {
	var f approval.Filing
	if err := readStrict(body, maxAccessBody, &f); err != nil {
		return f, fmt.Errorf("malformed access request: %w", err)
	}
	if _, err := f.Check(); err != nil {
		return f, err
	}
	return f, nil
}

// fileAccess takes an access request from a host operator.
func (s *Server) fileAccess(w http.ResponseWriter, r *http.Request, c caller) error {
	f, err := decodeAccessFiling(r.Body)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, err.Error(), err)
	}
	st := s.access
	st.mu.Lock()
	defer st.mu.Unlock()
	pending := 0
	for _, x := range st.recs {
		if x.Status == approval.Pending {
			pending++
		}
	}
	if pending >= MaxPendingAccess {
		return fail(http.StatusTooManyRequests, api.CodeBusy, fmt.Sprintf("%d access requests are pending: the home must decide them first", pending), nil)
	}
	rec := accessRecord{HostRequest: approval.HostRequest{ID: newID(), Reason: f.Reason, Scope: f.Scope, Duration: f.Duration,
		Who: f.Who, What: f.What, Requester: c.id.String(), Filed: time.Now().UTC(), Status: approval.Pending}}
	next := append(append([]accessRecord(nil), st.recs...), rec)
	for i := 0; len(next) > MaxAccessRecords && i < len(next); {
		if next[i].Status != approval.Pending {
			next = append(next[:i], next[i+1:]...)
			continue
		}
		i++
	}
	if err := writeRecordFile(st.path, next); err != nil {
		return fail(http.StatusInternalServerError, api.CodeInternal, "the request could not be kept", err)
	}
	st.recs = next
	w.WriteHeader(http.StatusCreated)
	return json.NewEncoder(w).Encode(rec.HostRequest)
}

func (s *Server) listAccess(w http.ResponseWriter, r *http.Request, c caller) error {
	return writeJSON(w, s.access.list())
}

// decideAccess takes the home's signed decision on a request.
func (s *Server) decideAccess(w http.ResponseWriter, r *http.Request, c caller) error {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDecisionBody+1))
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, "unreadable decision", err)
	}
	st := s.access
	st.mu.Lock()
	defer st.mu.Unlock()
	i := st.find(id)
	if i < 0 {
		return fail(http.StatusNotFound, api.CodeNotFound, "no access request "+id+" at this site", nil)
	}
	rec := st.recs[i]
	if rec.Status != approval.Pending {
		if bytes.Equal(rec.Decision, body) {
			return writeJSON(w, rec.HostRequest) // the same decision again
		}
		return fail(http.StatusConflict, api.CodeExists, "access request "+id+" is "+rec.Status+" already", nil)
	}
	d, err := st.check(&rec, body, time.Now().UTC())
	if err != nil {
		s.events.add(Event{Kind: "denied", Identity: c.id.String(), Role: string(c.id.Role), Remote: r.RemoteAddr, Detail: "access decision refused: " + err.Error()})
		return fail(http.StatusForbidden, api.CodeForbidden, "decision refused: "+err.Error(), err)
	}
	rec.Status, rec.Expires, rec.Decision = decisionStatus(d), d.Expires, body
	next := append([]accessRecord(nil), st.recs...)
	next[i] = rec
	if err := writeRecordFile(st.path, next); err != nil {
		return fail(http.StatusInternalServerError, api.CodeInternal, "the decision could not be kept", err)
	}
	st.recs = next
	return writeJSON(w, rec.HostRequest)
}

// maintenanceList is the privileged operation of scope "metadata": the
// object listing, for an operator holding an approved request. Each use
// is an access event the home pulls.
func (s *Server) maintenanceList(w http.ResponseWriter, r *http.Request, c caller) error {
	who := c.id.String()
	g, ok := s.access.grant(who, "metadata", time.Now().UTC())
	if !ok {
		s.events.add(Event{Kind: "denied", Identity: who, Role: string(c.id.Role), Remote: r.RemoteAddr, Detail: "privileged metadata list without an approved access request"})
		return fail(http.StatusForbidden, api.CodeForbidden,
			"no approved access request of scope metadata for "+who+": file one (POST /v1/access) and wait for the home's signed decision", nil)
	}
	s.events.add(Event{Kind: "privileged", Identity: who, Role: string(c.id.Role), Remote: r.RemoteAddr,
		Detail: "access " + g.ID + " (" + g.Reason + "): metadata list " + r.PathValue("kind")})
	return s.listObjects(w, r, c)
}

// operatorOnly is the permission set of host-operator filings.
var operatorOnly = []pki.Role{pki.RoleOperator}
