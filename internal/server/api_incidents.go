package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// Bounds of the incidents held.
const (
	maxIncidentBody    = 8 << 10
	MaxIncidentRecords = 256
)

type incidentRecord struct {
	incident.HostRecord
	Pulled bool `json:"pulled,omitempty"` // the home has fetched it
}

type incidentStore struct {
	mu   sync.Mutex
	path string
	recs []incidentRecord
}

func newIncidentStore(path string) (*incidentStore, error) {
	st := &incidentStore{path: path}
	if err := readRecordFile(path, &st.recs); err != nil {
		return nil, fmt.Errorf("incidents file: %w", err)
	}
	return st, nil
}

// decodeIncident reads and checks an incident body written by host
// personnel: bounded, known fields only, a known type, plain text, a time
// that is not in the future.
func decodeIncident(body io.Reader, now time.Time) (incident.HostFiling, error) {
	var f incident.HostFiling
	dec := json.NewDecoder(io.LimitReader(body, maxIncidentBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("malformed incident: %w", err)
	}
	if dec.More() {
		return f, errors.New("malformed incident: more than one JSON value")
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
