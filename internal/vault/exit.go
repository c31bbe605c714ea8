package vault

// Leaving a host (exit): the archive's restore proof, the ordered deletion
// and the deletion certificate. The signed formats are internal/exit's;
// docs/formats/exit.md specifies them.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// RestoreProof is the outcome of restoring an archive into a fresh site.
type RestoreProof struct {
	ReadData  bool   `json:"read_data"` // false: structure and signatures only (no root key)
	Datasets  int    `json:"datasets"`
	Snapshots int    `json:"snapshots"`
	Packs     int64  `json:"packs_checked"`
	Blobs     int64  `json:"blobs_checked"`
	Bytes     int64  `json:"bytes_read"`
	Note      string `json:"note,omitempty"`
}

// CheckArchive reads the archive at path, checks it against its signed
// manifest, imports it into a fresh temporary directory site and opens the
// vault there alone: the manifest's key must be the key of the epoch it
// names in the archive's own verified key chain. With a home holding the
// root key, every snapshot, index and pack is then verified, reading all
// data.
func CheckArchive(ctx context.Context, h *home.Home, path string, log *slog.Logger) (*exit.Contents, *RestoreProof, error) {
	dir, err := os.MkdirTemp("", "embassy-exit-check-*")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	b, err := fs.New(ctx, fs.Config{Path: dir, Name: "archive", Create: true})
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
		return b.Put(ctx, hd, site.Bytes(data), site.PutOptions{IfAbsent: true, Deferred: true})
	})
	if err != nil {
		return nil, nil, err
	}
	m := c.Manifest
	if h != nil && h.Config.Home != m.Home {
		return c, nil, fmt.Errorf("archive of home %s, this home is %s", m.Home, h.Config.Home)
	}
	r, err := repo.Open(ctx, repo.Options{Home: m.Home, Sites: []*repo.Site{{Name: "archive", Backend: b}}, Logger: log})
	if err != nil {
		return c, nil, fmt.Errorf("open the archived vault: %w", err)
	}
	ep := r.Epochs()[m.Epoch]
	if ep == nil || ep.SignKey != base64.StdEncoding.EncodeToString(m.SignKey) {
		return c, nil, fmt.Errorf("manifest signed by a key that is not the home's key of epoch %d", m.Epoch)
	}
	p := &RestoreProof{}
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
	vr, err := r.Verify(ctx, repo.VerifyOptions{ReadData: true})
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
	*p = RestoreProof{ReadData: true, Datasets: vr.Datasets, Snapshots: vr.Snapshots, Packs: vr.Packs, Blobs: vr.Blobs, Bytes: vr.Bytes}
	return c, p, nil
}

// DeletionCertificate asks a daemon site for its signed certificate; for
// other sites the home lists what remains and signs its own attestation.
func DeletionCertificate(ctx context.Context, b site.Backend, name, homeID, digest string, signer ed25519.PrivateKey, now time.Time) (*exit.Certificate, error) {
	if rb := DaemonOf(b); rb != nil {
		return rb.ExitCertificate(ctx, digest)
	}
	body := exit.CertBody{Site: name, Home: homeID, Time: now.UTC(), ByKind: map[string]int64{}, Manifest: digest,
		Note: "attestation by the home: the site's listing was empty after deletion; not signed by the host"}
	hs, err := exit.Handles(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("after deletion: %w", err)
	}
	for _, h := range hs {
		body.ByKind[h.Kind.String()]++
	}
	body.Remaining = int64(len(hs))
	return exit.SignHome(body, signer)
}

// WriteJSONFile writes v compactly: signed bodies must keep their exact bytes.
func WriteJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// DaemonOf finds an embassy daemon backend under decorators.
func DaemonOf(b site.Backend) *remote.Backend {
	for b != nil {
		if rb, ok := b.(*remote.Backend); ok {
			return rb
		}
		u, ok := b.(site.Unwrapper)
		if !ok {
			return nil
		}
		b = u.Unwrap()
	}
	return nil
}
