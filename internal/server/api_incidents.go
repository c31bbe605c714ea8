package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/pki"
)

// Incident records filed by host personnel (framework requirement 23):
// POST /v1/incidents takes one (operator role), GET /v1/incidents lists
// them; the home pulls them into its transparency log, where their
// arrival, acknowledgement and escalation are tracked. The daemon keeps
// them in a file across restarts, bounded: when it is full, the oldest
// the home has pulled go first, and if the home has pulled none new
// filings are refused (the host must see that the home is not listening).
// The home pushes back its signed acknowledgement of each (POST
// /v1/incidents/{id}/ack, incident.Ack), verified with the home's access
// key, so the host view shows which filings the sending state has seen;
// the file keeps the signed bytes and acknowledgements are re-verified on
// load, so an edited file acknowledges nothing.

// Bounds of the incidents held.
const (
	maxIncidentBody    = 8 << 10
	MaxIncidentRecords = 256
)

type incidentRecord struct {
	incident.HostRecord
	Pulled bool   `json:"pulled,omitempty"` // the home has fetched it
	Ack    []byte `json:"ack,omitempty"`    // the home's signed acknowledgement
}

type incidentStore struct {
	mu   sync.Mutex
	path string
	recs []incidentRecord
	keys *accessStore // the home's access key, home and site
}

func newIncidentStore(path string, keys *accessStore) (*incidentStore, error) {
	st := &incidentStore{path: path, keys: keys}
	if err := readRecordFile(path, &st.recs); err != nil {
		return nil, fmt.Errorf("incidents file: %w", err)
	}
	for i := range st.recs {
		r := &st.recs[i]
		r.Acknowledged = time.Time{}
		if len(r.Ack) == 0 {
			continue
		}
		a, err := st.checkAck(r, r.Ack)
		if err != nil {
			keys.log.Warn("incidents file: an acknowledgement does not verify; the incident is unacknowledged again", "incident", r.ID, "err", err)
			r.Ack = nil
			continue
		}
		r.Acknowledged = a.At
	}
	return st, nil
}

// ackSkew is how far before the daemon's filing time an acknowledgement
// may be dated (the home's clock may lag the daemon's).
const ackSkew = 5 * time.Minute

// checkAck verifies the home's signed acknowledgement of r: the pinned
// access key, this daemon's home and site, r's id, dated no earlier than
// the filing.
func (st *incidentStore) checkAck(r *incidentRecord, msg []byte) (incident.Ack, error) {
	a, err := incident.OpenAck(msg, st.keys.verifier)
	if err != nil {
		return a, err
	}
	switch {
	case a.Home != st.keys.home || st.keys.home == "":
		return a, fmt.Errorf("the acknowledgement is for home %q, this daemon serves %q", a.Home, st.keys.home)
	case a.Site != st.keys.site:
		return a, fmt.Errorf("the acknowledgement is for site %q, this is %q", a.Site, st.keys.site)
	case a.Incident != r.ID:
		return a, fmt.Errorf("the acknowledgement is for incident %s, not %s", a.Incident, r.ID)
	case a.At.Before(r.Filed.Add(-ackSkew)):
		return a, fmt.Errorf("the acknowledgement is dated %s, before the incident was filed", a.At.Format(time.RFC3339))
	}
	return a, nil
}

// decodeIncident reads and checks an incident body written by host
// personnel: bounded, known fields only, a known type, plain text, a time
// that is not in the future.
func decodeIncident(body io.Reader, now time.Time) (incident.HostFiling, error) {
	var f incident.HostFiling
	if err := readStrict(body, maxIncidentBody, &f); err != nil {
		return f, fmt.Errorf("malformed incident: %w", err)
	}
	return f, f.Check(now)
}

func (s *Server) fileIncident(w http.ResponseWriter, r *http.Request, c caller) error {
	now := time.Now().UTC()
	f, err := decodeIncident(r.Body, now)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, err.Error(), err)
	}
	st := s.incidents
	st.mu.Lock()
	defer st.mu.Unlock()
	next := append(append([]incidentRecord(nil), st.recs...), incidentRecord{HostRecord: incident.HostRecord{ID: newID(), HostFiling: f, FiledBy: c.id.String(), Filed: now}})
	for i := 0; len(next) > MaxIncidentRecords && i < len(next); {
		if next[i].Pulled {
			next = append(next[:i], next[i+1:]...)
			continue
		}
		i++
	}
	if len(next) > MaxIncidentRecords {
		return fail(http.StatusTooManyRequests, api.CodeBusy, fmt.Sprintf("%d incidents are held and the home has pulled none of them: tell the sending state's contacts another way", len(st.recs)), nil)
	}
	if err := writeRecordFile(st.path, next); err != nil {
		return fail(http.StatusInternalServerError, api.CodeInternal, "the incident could not be kept", err)
	}
	st.recs = next
	w.WriteHeader(http.StatusCreated)
	return json.NewEncoder(w).Encode(next[len(next)-1].HostRecord)
}

// listIncidents returns every incident held; a home certificate's fetch
// marks them pulled.
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request, c caller) error {
	st := s.incidents
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]incident.HostRecord, 0, len(st.recs))
	changed := false
	next := append([]incidentRecord(nil), st.recs...)
	for i := range next {
		out = append(out, next[i].HostRecord)
		if c.id.Role == pki.RoleHome && !next[i].Pulled {
			next[i].Pulled, changed = true, true
		}
	}
	if changed {
		if err := writeRecordFile(st.path, next); err == nil {
			st.recs = next
		} else {
			s.log.WarnContext(r.Context(), "incidents file", "err", err)
		}
	}
	return writeJSON(w, out)
}

// ackIncident takes the home's signed acknowledgement of an incident. The
// signature is what counts, not who carries it (home and operator
// certificates may deliver it); the same acknowledgement again is
// answered as before, another one for an acknowledged incident is refused.
func (s *Server) ackIncident(w http.ResponseWriter, r *http.Request, c caller) error {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDecisionBody+1))
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, "unreadable acknowledgement", err)
	}
	st := s.incidents
	st.mu.Lock()
	defer st.mu.Unlock()
	i := slices.IndexFunc(st.recs, func(x incidentRecord) bool { return x.ID == id })
	if i < 0 {
		return fail(http.StatusNotFound, api.CodeNotFound, "no incident "+id+" at this site", nil)
	}
	rec := st.recs[i]
	if len(rec.Ack) > 0 {
		if bytes.Equal(rec.Ack, body) {
			return writeJSON(w, rec.HostRecord)
		}
		return fail(http.StatusConflict, api.CodeExists, "incident "+id+" is acknowledged already", nil)
	}
	a, err := st.checkAck(&rec, body)
	if err != nil {
		s.events.add(Event{Kind: "denied", Identity: c.id.String(), Role: string(c.id.Role), Remote: r.RemoteAddr, Detail: "incident acknowledgement refused: " + err.Error()})
		return fail(http.StatusForbidden, api.CodeForbidden, "acknowledgement refused: "+err.Error(), err)
	}
	rec.Ack, rec.Acknowledged = body, a.At
	next := append([]incidentRecord(nil), st.recs...)
	next[i] = rec
	if err := writeRecordFile(st.path, next); err != nil {
		return fail(http.StatusInternalServerError, api.CodeInternal, "the acknowledgement could not be kept", err)
	}
	st.recs = next
	return writeJSON(w, rec.HostRecord)
}

// heldIncidents is every incident held, oldest first, with whether the
// home has pulled it.
func (st *incidentStore) held() []incidentRecord {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]incidentRecord(nil), st.recs...)
}
