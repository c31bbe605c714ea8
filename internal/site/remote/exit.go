package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/exit"
)

// ExitCertificate asks the daemon for a deletion certificate naming the
// exit manifest digest; check it with exit.VerifyCertificate.
func (b *Backend) ExitCertificate(ctx context.Context, manifest string) (*exit.Certificate, error) {
	body, err := json.Marshal(api.ExitCertificateRequest{Manifest: manifest})
	if err != nil {
		return nil, err
	}
	resp, err := b.do(ctx, http.MethodPost, "/v1/exit/certificate", bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return nil, fmt.Errorf("exit certificate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, responseError("exit certificate", stringer(manifest), resp)
	}
	var c exit.Certificate
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c); err != nil {
		return nil, fmt.Errorf("exit certificate: %w", err)
	}
	return &c, nil
}
