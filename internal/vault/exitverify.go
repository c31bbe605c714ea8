package vault

import (
	"context"
	"crypto/x509"
	"log/slog"
	"os"

	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
)

// ExitVerifyRequest names what 'embassy exit verify' checks: an archive,
// its deletion certificate (default ARCHIVE.certificate.json, if present)
// and the CA of a site-signed certificate (default the home's).
type ExitVerifyRequest struct {
	Archive, CertFile, CAFile string
	HomeDir                   string // the home, if there is one (it proves the archive restores)
	Logger                    *slog.Logger
}

// ExitVerified is ExitCheck with the manifest digest, for output.
type ExitVerified struct {
	*ExitCheck
	Digest string
}

// VerifyExitFiles is VerifyExit over file names: it opens the home when
// one exists at req.HomeDir, loads --ca and finds the default certificate.
func VerifyExitFiles(ctx context.Context, req ExitVerifyRequest) (*ExitVerified, error) {
	var h *home.Home
	if req.HomeDir != "" && home.Exists(req.HomeDir) {
		var err error
		if h, err = home.Open(req.HomeDir); err != nil {
			return nil, err
		}
	}
	var ca *x509.Certificate
	if req.CAFile != "" {
		var err error
		if ca, err = pki.LoadCert(req.CAFile); err != nil {
			return nil, err
		}
	}
	cert := req.CertFile
	if _, err := os.Stat(req.Archive + ".certificate.json"); cert == "" && err == nil {
		cert = req.Archive + ".certificate.json"
	}
	ck, err := VerifyExit(ctx, h, req.Archive, cert, ca, req.Logger)
	if err != nil {
		return nil, err
	}
	return &ExitVerified{ExitCheck: ck, Digest: exit.Digest(ck.Contents.Raw)}, nil
}
