package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/site"
)

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, c caller) error {
	_, err := s.cfg.Backend.Stat(r.Context(), site.Handle{Kind: site.KindConfig, Name: "repo"})
	if err != nil && !errors.Is(err, site.ErrNotFound) {
		s.log.ErrorContext(r.Context(), "health check failed", "err", err)
		return fail(http.StatusServiceUnavailable, "unhealthy", "storage unavailable", err)
	}
	return writeJSON(w, map[string]any{"status": "ok", "inflight": s.metrics.inflight.Load()})
}

func (s *Server) properties(w http.ResponseWriter, r *http.Request, c caller) error {
	p := s.cfg.Backend.Properties()
	out := api.Properties{
		Name: p.Name, Jurisdiction: p.Jurisdiction, Connections: p.Connections, ObjectLock: p.ObjectLock,
		Role: string(c.id.Role), MaxBody: s.cfg.MaxBody,
	}
	if r.TLS != nil {
		out.TLSGroup = r.TLS.CurveID.String()
	}
	return writeJSON(w, out)
}

func (s *Server) eventsList(w http.ResponseWriter, r *http.Request, c caller) error {
	evs := s.events.snapshot()
	if err := writeJSON(w, evs); err != nil {
		return err
	}
	s.notePull(c, evs)
	return nil
}

func (s *Server) sync(w http.ResponseWriter, r *http.Request, c caller) error {
	if err := site.Sync(r.Context(), s.cfg.Backend); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
