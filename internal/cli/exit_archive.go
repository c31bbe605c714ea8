package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
)

// restoreProof is the outcome of restoring an archive into a fresh site.
type restoreProof struct {
	ReadData  bool   `json:"read_data"` // false: structure and signatures only (no root key)
	Datasets  int    `json:"datasets"`
	Snapshots int    `json:"snapshots"`
	Packs     int64  `json:"packs_checked"`
	Blobs     int64  `json:"blobs_checked"`
	Bytes     int64  `json:"bytes_read"`
	Note      string `json:"note,omitempty"`
}

// checkArchive reads the archive at path, checks it against its signed
// manifest, imports it into a fresh temporary directory site and opens the
// vault there alone: the manifest's key must be the key of the epoch it
// names in the archive's own verified key chain. With a home holding the
// root key, every snapshot, index and pack is then verified, reading all
// data.
func (e *env) checkArchive(h *home.Home, path string) (*exit.Contents, *restoreProof, error) {
	dir, err := os.MkdirTemp("", "embassy-exit-check-*")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	b, err := fs.New(e.ctx, fs.Config{Path: dir, Name: "archive", Create: true})
	if err != nil {
		return nil, nil, err
	}
	defer b.Close()
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	c, err := exit.Read(f, func(hd site.Handle, data []byte) error {
		return b.Put(e.ctx, hd, site.Bytes(data), site.PutOptions{IfAbsent: true, Deferred: true})
	})
	if err != nil {
		return nil, nil, err
	}
	m := c.Manifest
	if h != nil && h.Config.Home != m.Home {
		return c, nil, fmt.Errorf("archive of home %s, this home is %s", m.Home, h.Config.Home)
	}
	r, err := repo.Open(e.ctx, repo.Options{Home: m.Home, Sites: []*repo.Site{{Name: "archive", Backend: b}}, Logger: e.log})
	if err != nil {
		return c, nil, fmt.Errorf("open the archived vault: %w", err)
	}
	ep := r.Epochs()[m.Epoch]
	if ep == nil || ep.SignKey != base64.StdEncoding.EncodeToString(m.SignKey) {
		return c, nil, fmt.Errorf("manifest signed by a key that is not the home's key of epoch %d", m.Epoch)
	}
	p := &restoreProof{}
	if h == nil {
		p.Note = "no home: archive, manifest signature and key chain checked; data not decrypted"
		return c, p, nil
	}
	root, err := h.LoadRoot(r.CurrentEpoch().Epoch)
	if err != nil {
		p.Note = fmt.Sprintf("root key of epoch %d not in this home: data not decrypted", r.CurrentEpoch().Epoch)
		return c, p, nil
	}
	if err := r.SetRoot(root); err != nil {
		return c, nil, err
	}
	vr, err := r.Verify(e.ctx, repo.VerifyOptions{ReadData: true})
	if err != nil {
		return c, nil, err
	}
	if len(vr.Damage) > 0 {
		var ps []string
		for i, d := range vr.Damage {
			if i == 5 {
				ps = append(ps, fmt.Sprintf("and %d more", len(vr.Damage)-5))
				break
			}
			ps = append(ps, d.Object+": "+d.Problem)
		}
		return c, nil, fmt.Errorf("restored copy is damaged: %s", strings.Join(ps, "; "))
	}
	*p = restoreProof{ReadData: true, Datasets: vr.Datasets, Snapshots: vr.Snapshots, Packs: vr.Packs, Blobs: vr.Blobs, Bytes: vr.Bytes}
	return c, p, nil
}

// deleteAll deletes every archived object at b: data first, config/repo
// (which marks a site as initialised) last.
func deleteAll(ctx context.Context, b site.Backend, m *exit.Manifest) (int, error) {
	order := map[site.Kind]int{site.KindPack: 0, site.KindIndex: 1, site.KindSnapshot: 2, site.KindLock: 3, site.KindKey: 4, site.KindConfig: 5}
	var hs []site.Handle
	for _, o := range m.Objects {
		kind, name, _ := strings.Cut(o.Path, "/")
		k, err := site.ParseKind(kind)
		if err != nil {
			return 0, err
		}
		hs = append(hs, site.Handle{Kind: k, Name: name})
	}
	slices.SortStableFunc(hs, func(a, b site.Handle) int {
		ra, rb := order[a.Kind], order[b.Kind]
		if a.Kind == site.KindConfig && a.Name == "repo" {
			ra = 6
		}
		if b.Kind == site.KindConfig && b.Name == "repo" {
			rb = 6
		}
		return ra - rb
	})
	n := 0
	var errs []error
	for _, h := range hs {
		if err := b.Delete(ctx, h); err != nil && !errors.Is(err, site.ErrNotFound) {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
			if len(errs) >= 10 {
				break
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// deletionCertificate asks a daemon site for its signed certificate; for
// other sites the home lists what remains and signs its own attestation.
func (e *env) deletionCertificate(b site.Backend, name, homeID, digest string, signer ed25519.PrivateKey) (*exit.Certificate, error) {
	if rb := daemonOf(b); rb != nil {
		return rb.ExitCertificate(e.ctx, digest)
	}
	body := exit.CertBody{Site: name, Home: homeID, Time: time.Now().UTC(), ByKind: map[string]int64{}, Manifest: digest,
		Note: "attestation by the home: the site's listing was empty after deletion; not signed by the host"}
	for _, k := range site.Kinds {
		var n int64
		if err := b.List(e.ctx, k, func(site.Info) error { n++; return nil }); err != nil {
			return nil, fmt.Errorf("list %s after deletion: %w", k, err)
		}
		if n > 0 {
			body.ByKind[k.String()] = n
		}
		body.Remaining += n
	}
	return exit.SignHome(body, signer)
}

// verifyExitCertificate checks a certificate against the home's CA (site
// certificates) or the manifest's key (home attestations).
func verifyExitCertificate(ca *x509.Certificate, c *exit.Certificate, homeID string, homeKey ed25519.PublicKey, digest string) (*exit.CertBody, error) {
	return exit.VerifyCertificate(c, exit.Trust{CA: ca, HomeKey: homeKey, Home: homeID, Digest: digest})
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

// writeJSONFile writes v compactly: signed bodies must keep their exact bytes.
func writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

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
				cb, err = verifyExitCertificate(ca, &cert, c.Manifest.Home, c.Manifest.SignKey, exit.Digest(c.Raw))
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
