package api

// ExitCertificateRequest asks a daemon for a signed deletion certificate
// (POST /v1/exit/certificate, home role only). The response is an
// exit.Certificate; see docs/formats/exit.md.
type ExitCertificateRequest struct {
	Manifest string `json:"manifest"` // hex BLAKE3-256 of the exit manifest
}
