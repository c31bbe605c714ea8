package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/vault"
)

type restoreProof = vault.RestoreProof

func (e *env) checkArchive(h *home.Home, path string) (*exit.Contents, *restoreProof, error) {
	return vault.CheckArchive(e.ctx, h, path, e.log)
}

func deleteAll(ctx context.Context, b site.Backend, m *exit.Manifest) (int, error) {
	return vault.DeleteArchived(ctx, b, m)
}

func (e *env) deletionCertificate(b site.Backend, name, homeID, digest string, signer ed25519.PrivateKey) (*exit.Certificate, error) {
	return vault.DeletionCertificate(e.ctx, b, name, homeID, digest, signer, e.now())
}

// verifyExitCertificate checks a certificate against the home's CA (site
// certificates) or the manifest's key (home attestations).
// The manifest (signed by the home) pins the site's certificate and gives
// the validation time.
func verifyExitCertificate(ca *x509.Certificate, c *exit.Certificate, m *exit.Manifest, homeKey ed25519.PublicKey, digest string) (*exit.CertBody, error) {
	return exit.VerifyCertificate(c, exit.Trust{CA: ca, HomeKey: homeKey, Home: m.Home, Digest: digest, Site: m.Site, SiteCert: m.SiteCert, At: m.Created})
}

func homeCA(h *home.Home) *x509.Certificate {
	if h == nil {
		return nil
	}
	ca, err := pki.LoadCert(filepath.Join(pkiDir(h), pki.CACertFile))
	if err != nil {
		return nil
	}
	return ca
}

func writeJSONFile(path string, v any) error { return vault.WriteJSONFile(path, v) }

func cmdExitVerify(e *env) *cobra.Command {
	var certFile, caFile string
	c := &cobra.Command{
		Use:   "verify ARCHIVE [--certificate FILE] [--ca ca.crt]",
		Short: "Check an exit archive and its deletion certificate offline",
		Long: `verify checks an exit archive without any site: every object against the
signed manifest, the manifest's signature against the home's key chain held
in the archive itself, and, when this home holds the root key, that the
archive restores: it is imported into a fresh temporary site and every
snapshot, index and pack is verified reading all data. The deletion
certificate (default ARCHIVE.certificate.json, if present) is checked too:
a site-signed one against the home CA (this home's, or --ca).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			var h *home.Home
			if dir, err := e.homePath(); err == nil && home.Exists(dir) {
				if h, err = home.Open(dir); err != nil {
					return err
				}
			}
			c, p, err := e.checkArchive(h, path)
			if err != nil {
				return hint.WithCode(hint.Wrap(fmt.Errorf("%s: %w", path, err), "the archive is damaged or was altered; do not rely on it"), hint.CodeDamaged)
			}
			out := map[string]any{"archive": path, "manifest_digest": exit.Digest(c.Raw), "home": c.Manifest.Home, "site": c.Manifest.Site,
				"created": c.Manifest.Created, "objects": len(c.Manifest.Objects), "bytes": c.Manifest.Bytes, "restore_proof": p}
			if certFile == "" {
				if _, err := os.Stat(path + ".certificate.json"); err == nil {
					certFile = path + ".certificate.json"
				}
			}
			var cb *exit.CertBody
			if certFile != "" {
				ca := homeCA(h)
				if caFile != "" {
					if ca, err = pki.LoadCert(caFile); err != nil {
						return err
					}
				}
				raw, err := os.ReadFile(certFile)
				if err != nil {
					return err
				}
				var cert exit.Certificate
				if err := json.Unmarshal(raw, &cert); err != nil {
					return hint.WithCode(fmt.Errorf("%s: %w", certFile, err), hint.CodeDamaged)
				}
				cb, err = verifyExitCertificate(ca, &cert, c.Manifest, c.Manifest.SignKey, exit.Digest(c.Raw))
				if err != nil {
					return hint.WithCode(hint.Wrap(fmt.Errorf("%s: %w", certFile, err), "the deletion certificate does not prove the deletion of this archive's site"), hint.CodeDamaged)
				}
				out["certificate"] = map[string]any{"file": certFile, "signer": cb.Signer, "site": cb.Site, "time": cb.Time, "remaining": cb.Remaining}
			}
			if e.json {
				return e.emitJSON(out)
			}
			e.printf("archive %s: %d objects, %s, of site %s (home %s), manifest signed by the home\n", path, len(c.Manifest.Objects), humanBytes(c.Manifest.Bytes), c.Manifest.Site, c.Manifest.Home)
			if p.ReadData {
				e.printf("restores: %d datasets, %d snapshots, %d packs verified with all data in a fresh site\n", p.Datasets, p.Snapshots, p.Packs)
			} else {
				e.printf("%s\n", p.Note)
			}
			if cb != nil {
				who := "signed by the site's daemon (certificate chained to the home CA)"
				if cb.Signer == exit.SignerHome {
					who = "the home's own attestation, not a host-signed certificate"
				}
				e.printf("deletion certificate: %s at %s: nothing remained; %s\n", cb.Site, cb.Time.Format(time.RFC3339), who)
			}
			return nil
		},
	}
	c.Flags().StringVar(&certFile, "certificate", "", "deletion certificate (default ARCHIVE.certificate.json if present)")
	c.Flags().StringVar(&caFile, "ca", "", "home CA certificate for site-signed certificates (default this home's)")
	return c
}
