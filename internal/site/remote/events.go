package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/digital-embassy/embassy/internal/api"
)

// Events returns the daemon's recent access events (logins, refusals and
// disclosures filed by host personnel). Home and operator roles only.
func (b *Backend) Events(ctx context.Context) ([]api.Event, error) {
	resp, err := b.do(ctx, http.MethodGet, "/v1/events", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, responseError("events", nil, resp)
	}
	var evs []api.Event
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&evs); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return evs, nil
}

// Disclose files an access disclosure at the daemon (host personnel with
// an operator certificate); the home pulls it into its transparency log.
func (b *Backend) Disclose(ctx context.Context, d api.Disclosure) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	resp, err := b.do(ctx, http.MethodPost, "/v1/disclosures", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return fmt.Errorf("disclose: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return responseError("disclose", nil, resp)
	}
	return nil
}

// Metrics returns the daemon's Prometheus text (GET /metrics), bounded to 4 MiB.
func (b *Backend) Metrics(ctx context.Context) (string, error) {
	resp, err := b.do(ctx, http.MethodGet, "/metrics", nil, nil)
	if err != nil {
		return "", fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", responseError("metrics", nil, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return string(body), err
}

// PutCRL pushes the home CA's revocation list to the daemon (home role).
func (b *Backend) PutCRL(ctx context.Context, crl []byte) error {
	resp, err := b.do(ctx, http.MethodPut, "/v1/crl", bytes.NewReader(crl), http.Header{"Content-Type": {"application/pkix-crl"}})
	if err != nil {
		return fmt.Errorf("push CRL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return responseError("push CRL", nil, resp)
	}
	return nil
}
