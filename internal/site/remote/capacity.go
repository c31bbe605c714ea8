package remote

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/digital-embassy/embassy/internal/compute"
)

// Capacity challenges the daemon for its compute capacity report with
// nonce and returns the raw report (home role). The report is the host's
// word: decode it with compute.Decode, which checks it answers nonce.
func (b *Backend) Capacity(ctx context.Context, nonce []byte) ([]byte, error) {
	body, err := json.Marshal(map[string]string{"nonce": hex.EncodeToString(nonce)})
	if err != nil {
		return nil, err
	}
	resp, err := b.do(ctx, http.MethodPost, "/v1/capacity", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return nil, fmt.Errorf("capacity: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		// A daemon without --capacity, or one older than the endpoint.
		return nil, errors.New("the daemon reports no compute capacity: the host starts embassyd with --capacity FILE (docs/COMPUTE.md)")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, responseError("capacity", nil, resp)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, compute.MaxReport+1))
	if err != nil {
		return nil, fmt.Errorf("capacity: %w", err)
	}
	return raw, nil
}
