package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/digital-embassy/embassy/internal/supply"
)

// Version returns the daemon's report of the binary it runs (GET
// /v1/version), over the connection whose site certificate was pinned;
// the answer is decoded strictly, as written by the host.
func (b *Backend) Version(ctx context.Context) (*supply.DaemonVersion, error) {
	resp, err := b.do(ctx, http.MethodGet, "/v1/version", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, responseError("version", nil, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, supply.MaxVersionAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	return supply.ParseVersion(body)
}
