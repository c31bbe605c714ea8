package server

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
)

// exitCertificate lists everything the site still holds and signs a
// deletion certificate with the daemon's site key: the host's own word
// that, at this time, the listing was as stated. Home role only.
func (s *Server) exitCertificate(w http.ResponseWriter, r *http.Request, c caller) error {
	var req api.ExitCertificateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		return badRequest("invalid request: " + err.Error())
	}
	if len(req.Manifest) != 64 {
		return badRequest("manifest: want the 64-hex-digit digest of the exit manifest")
	}
	leaf := s.cfg.Certificate.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(s.cfg.Certificate.Certificate[0]); err != nil {
			return fail(http.StatusInternalServerError, api.CodeInternal, "the daemon's certificate is unreadable", err)
		}
	}
	id, err := pki.Identify(leaf)
	if err != nil {
		return fail(http.StatusInternalServerError, api.CodeInternal, "the daemon's certificate carries no identity", err)
	}
	key, ok := s.cfg.Certificate.PrivateKey.(crypto.Signer)
	if !ok {
		return fail(http.StatusInternalServerError, api.CodeInternal, "the daemon's key cannot sign", nil)
	}
	b := exit.CertBody{Site: id.Name, Home: id.Home, Time: time.Now().UTC(), ByKind: map[string]int64{}, Manifest: req.Manifest}
	for _, k := range site.Kinds {
		var n int64
		if err := s.cfg.Backend.List(r.Context(), k, func(site.Info) error { n++; return nil }); err != nil {
			return err
		}
		if n > 0 {
			b.ByKind[k.String()] = n
		}
		b.Remaining += n
	}
	cert, err := exit.SignSite(b, key, leaf.Raw)
	if err != nil {
		return fail(http.StatusInternalServerError, api.CodeInternal, "could not sign the certificate", err)
	}
	s.events.add(Event{Kind: "exit", Identity: c.id.String(), Role: string(c.id.Role), Remote: r.RemoteAddr, Detail: "deletion certificate"})
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(cert)
}
