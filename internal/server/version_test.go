package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"runtime"
	"testing"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// GET /v1/version reports the SHA-256 of the running executable and its
// build information, to the home over mutual TLS; the home's client
// decodes it strictly.
func TestVersionReportsRunningBinary(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), nil)
	v, err := env.Client(t, pki.RoleHome, "home").Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	self := "/proc/self/exe"
	if runtime.GOOS != "linux" {
		self, _ = os.Executable()
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if v.Artifact != server.VersionArtifact || v.Digest != hex.EncodeToString(sum[:]) || v.Size != int64(len(b)) || v.GoVersion == "" {
		t.Fatalf("version %+v, want the digest %x of this test binary", v, sum)
	}
	if _, err := env.Client(t, pki.RoleAuditor, "audit").Version(t.Context()); err != nil {
		t.Errorf("auditor: %v", err)
	}
}
