package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/compute"
)

// CapacityReporter answers the home's capacity challenge with the site's
// capacity report (internal/compute): declared capacity, what the daemon
// measured, GPU evidence bound to the nonce and the running workloads.
type CapacityReporter interface {
	Capacity(ctx context.Context, nonce []byte) (*compute.Report, error)
}

// maxCapacityBody bounds a capacity challenge (a nonce).
const maxCapacityBody = 1 << 10

// CapacityRequest is the home's challenge (POST /v1/capacity).
type CapacityRequest struct {
	Nonce string `json:"nonce"` // hex, compute.NonceSize bytes
}

// capacity serves POST /v1/capacity to the home over the pinned mutual-TLS
// connection. The report is the host's word; the home verifies it.
func (s *Server) capacity(w http.ResponseWriter, r *http.Request, c caller) error {
	if s.cfg.Capacity == nil {
		return fail(http.StatusNotFound, api.CodeNotFound, "this site reports no compute capacity (embassyd --capacity FILE)", nil)
	}
	var req CapacityRequest
	if err := readStrict(r.Body, maxCapacityBody, &req); err != nil {
		return fail(http.StatusBadRequest, api.CodeBadRequest, "malformed capacity request", err)
	}
	nonce, err := hex.DecodeString(req.Nonce)
	if err != nil || len(nonce) != compute.NonceSize {
		return fail(http.StatusBadRequest, api.CodeBadRequest, "the nonce must be 32 bytes of hex", err)
	}
	rep, err := s.cfg.Capacity.Capacity(r.Context(), nonce)
	if err != nil {
		return fail(http.StatusInternalServerError, api.CodeInternal, "capacity: "+err.Error(), err)
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(rep)
}
