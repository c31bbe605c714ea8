package server

import (
	"io"
	"net/http"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/pki"
)

// putCRL installs a newer revocation list from the home (home role): it
// must be signed by the home CA and carry a higher number than the one
// held. From the next connection (and request) on, revoked certificates
// are refused, and each refusal is an access event the home pulls.
func (s *Server) putCRL(w http.ResponseWriter, r *http.Request, c caller) error {
	if s.revoked == nil {
		return fail(http.StatusNotImplemented, api.CodeBadRequest, "this daemon was started without the home CA certificate; it holds no revocation list", nil)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, pki.MaxCRL))
	if err != nil {
		return fail(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "CRL too large", err)
	}
	crl, err := s.revoked.Update(b)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, "CRL refused: "+err.Error(), err)
	}
	s.events.add(Event{Kind: "crl", Identity: c.id.String(), Role: string(c.id.Role), Remote: r.RemoteAddr,
		Detail: "revocation list " + crl.Number.String() + " installed"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
