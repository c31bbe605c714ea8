package registry

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Kinds of lookup, used in routes and audit lines.
const (
	KindPopulation = "population"
	KindLand       = "land"
)

// Service is the read-only lookup service over the two registers. Either
// table may be nil (that register is not served).
type Service struct {
	Population *Table
	Land       *Table
}

// Routes are:
//
//	GET /v1/population/{id}   a person by personal ID
//	GET /v1/land/{parcel}     a parcel by cadastral ID
//	GET /healthz              200 when the service answers
func (s *Service) Register(mux *http.ServeMux, wrap func(kind string, h http.HandlerFunc) http.HandlerFunc) {
	if wrap == nil {
		wrap = func(_ string, h http.HandlerFunc) http.HandlerFunc { return h }
	}
	mux.HandleFunc("GET /v1/population/{id}", wrap(KindPopulation, s.lookup(s.Population, "id")))
	mux.HandleFunc("GET /v1/land/{id}", wrap(KindLand, s.lookup(s.Land, "id")))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
}

func (s *Service) lookup(t *Table, param string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if t == nil {
			WriteJSON(w, http.StatusNotFound, map[string]string{"error": "register not served"})
			return
		}
		rec, err := t.Lookup(r.PathValue(param))
		switch {
		case errors.Is(err, ErrNotFound):
			WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		case err != nil:
			WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "lookup failed"})
		default:
			WriteJSON(w, http.StatusOK, map[string]any{"record": rec})
		}
	}
}

// WriteJSON writes v with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // a client gone before the answer: nothing to do
}

// Close closes both tables.
func (s *Service) Close() {
	if s.Population != nil {
		s.Population.Close()
	}
	if s.Land != nil {
		s.Land.Close()
	}
}
