package server

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
)

// SiteFacts is what the host declares about where the daemon runs
// (embassyd --location, --place, --jurisdiction); the daemon signs it,
// with a nonce from the asker, under the key of its site certificate.
type SiteFacts struct {
	Declared     *locate.Point
	Place        string
	Jurisdiction string // "": the storage's
}

// facts answers POST /v1/facts {"nonce": HEX} with the site's facts
// signed by its site key (docs/formats/location.md). Answered unlimited and
// at once: the home times these round trips to bound the signer's distance.
func (s *Server) facts(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Nonce string `json:"nonce"`
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<10))
	if err == nil {
		err = json.Unmarshal(b, &req)
	}
	if err == nil {
		err = locate.ValidNonce(req.Nonce)
	}
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, "facts request: want {\"nonce\": 64 hex digits}", err)
	}
	leaf := s.cfg.Certificate.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(s.cfg.Certificate.Certificate[0]); err != nil {
			return err
		}
	}
	id, err := pki.Identify(leaf)
	if err != nil {
		return err
	}
	key, ok := s.cfg.Certificate.PrivateKey.(crypto.Signer)
	if !ok {
		return fail(http.StatusNotImplemented, api.CodeBadRequest, "the site key cannot sign", nil)
	}
	fc := s.cfg.Facts
	if fc.Jurisdiction == "" {
		fc.Jurisdiction = s.cfg.Backend.Properties().Jurisdiction
	}
	signed, err := locate.SignFacts(locate.Facts{Format: locate.FactsFormat, Site: id.Name, Home: id.Home, Declared: fc.Declared,
		Place: fc.Place, Jurisdiction: fc.Jurisdiction, Time: time.Now().UTC(), Nonce: req.Nonce}, key)
	if err != nil {
		return err
	}
	return writeJSON(w, signed)
}
