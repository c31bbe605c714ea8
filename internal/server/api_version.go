package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/supply"
)

// VersionArtifact is the artifact name the daemon reports (update approvals
// of the daemon name it: 'embassy update approve --artifact embassyd').
const VersionArtifact = "embassyd"

// selfVersion is the running binary's digest and build information,
// computed once per process when the first server registers its routes:
// the file hashed is the one the kernel started (/proc/self/exe on Linux,
// which stays the started file even if it was replaced on disk since).
var selfVersion = sync.OnceValues(func() (supply.DaemonVersion, error) {
	started := time.Now().UTC()
	p := "/proc/self/exe"
	if runtime.GOOS != "linux" {
		var err error
		if p, err = os.Executable(); err != nil {
			return supply.DaemonVersion{}, err
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return supply.DaemonVersion{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return supply.DaemonVersion{}, fmt.Errorf("hash the running binary: %w", err)
	}
	bi, _ := debug.ReadBuildInfo()
	return supply.NewVersion(VersionArtifact, hex.EncodeToString(h.Sum(nil)), n, bi, started), nil
})

// versionHandler starts hashing the running binary (in the background, so
// that start-up is not delayed) and returns the handler of GET /v1/version:
// the answer reaches the home over mutual TLS from this site's certificate.
func (s *Server) versionHandler() handlerFunc {
	go func() { _, _ = selfVersion() }()
	return func(w http.ResponseWriter, r *http.Request, c caller) error {
		v, err := selfVersion()
		if err != nil {
			return fail(http.StatusInternalServerError, api.CodeInternal, "the daemon cannot hash its own binary", err)
		}
		return writeJSON(w, v)
	}
}
