package remote_test

import (
	"crypto/tls"
	"testing"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

func TestConformanceMem(t *testing.T) {
	sitetest.Run(t, func(t *testing.T) site.Backend {
		env := servertest.Start(t, mem.New(site.Properties{Name: "m"}), nil)
		return env.Client(t, pki.RoleHome, "home")
	})
}

func TestConformanceFS(t *testing.T) {
	sitetest.Run(t, func(t *testing.T) site.Backend {
		b, err := fs.New(t.Context(), fs.Config{Path: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		env := servertest.Start(t, b, nil)
		return env.Client(t, pki.RoleHome, "home")
	})
}

// The link must use the hybrid post-quantum key exchange.
func TestHybridKeyExchange(t *testing.T) {
	env := servertest.Start(t, mem.New(site.Properties{}), nil)
	b := env.Client(t, pki.RoleHome, "home")
	cs, err := b.ConnectionState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cs.CurveID != tls.X25519MLKEM768 || cs.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %v over %x, want X25519MLKEM768 over TLS 1.3", cs.CurveID, cs.Version)
	}
	if cs.NegotiatedProtocol != "h2" {
		t.Errorf("protocol %q, want h2", cs.NegotiatedProtocol)
	}
}
