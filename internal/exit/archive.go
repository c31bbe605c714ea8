package exit

import (
	"archive/tar"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/site"
)

// Limits of an archive a reader accepts.
const (
	MaxObjectSize   = 4 << 30
	MaxManifestSize = 256 << 20
)

// Write exports every object b holds to w as a tar archive, followed by
// MANIFEST.json built from m (Home, Site, Jurisdiction, Created and Epoch
// filled in by the caller) and signed with priv. It returns the stored
// manifest bytes.
func Write(ctx context.Context, b site.Backend, w io.Writer, m Manifest, priv ed25519.PrivateKey) ([]byte, error) {
	hs, err := Handles(ctx, b)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(w)
	m.Objects = make([]Object, 0, len(hs))
	m.Bytes = 0
	for _, h := range hs {
		data, err := site.ReadAll(ctx, b, h)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", h, err)
		}
		sum := blake3.Sum256(data)
		if err := writeEntry(tw, h.String(), data, m); err != nil {
			return nil, err
		}
		m.Objects = append(m.Objects, Object{Path: h.String(), Size: int64(len(data)), BLAKE3: hex.EncodeToString(sum[:])})
		m.Bytes += int64(len(data))
	}
	raw, err := SignManifest(&m, priv)
	if err != nil {
		return nil, err
	}
	if err := writeEntry(tw, ManifestName, raw, m); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return raw, nil
}

// Handles lists every object b holds, of every kind, sorted by
// <kind>/<name>: what an exit exports, and what must be gone after it.
func Handles(ctx context.Context, b site.Backend) ([]site.Handle, error) {
	var hs []site.Handle
	for _, k := range site.Kinds {
		err := b.List(ctx, k, func(fi site.Info) error {
			hs = append(hs, fi.Handle)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k, err)
		}
	}
	slices.SortFunc(hs, func(a, b site.Handle) int { return strings.Compare(a.String(), b.String()) })
	return hs, nil
}

func writeEntry(tw *tar.Writer, name string, data []byte, m Manifest) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o644, ModTime: m.Created, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	return nil
}

// Contents is what Read found in an archive.
type Contents struct {
	Manifest *Manifest
	Raw      []byte // the stored manifest, as signed
}

// Read reads an archive from r, calling fn (if not nil) with every object
// in order, and checks it: entries are regular files with valid object
// names, none repeats, MANIFEST.json comes last and its signature verifies
// under the key it names, and every object is listed with its exact size
// and BLAKE3-256, nothing more and nothing less. fn sees objects before
// the manifest is checked: treat them as unverified until Read returns nil.
func Read(r io.Reader, fn func(h site.Handle, data []byte) error) (*Contents, error) {
	tr := tar.NewReader(r)
	type seen struct {
		size int64
		sum  string
	}
	got := map[string]seen{}
	var raw []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if raw != nil {
			return nil, fmt.Errorf("%w: entry %q after %s", ErrMalformed, hdr.Name, ManifestName)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: entry %q is not a regular file", ErrMalformed, hdr.Name)
		}
		if hdr.Name == ManifestName {
			if hdr.Size < 0 || hdr.Size > MaxManifestSize {
				return nil, fmt.Errorf("%w: manifest of %d bytes", ErrMalformed, hdr.Size)
			}
			if raw, err = readN(tr, hdr.Size); err != nil {
				return nil, err
			}
			continue
		}
		h, err := parsePath(hdr.Name)
		if err != nil {
			return nil, err
		}
		if _, dup := got[hdr.Name]; dup {
			return nil, fmt.Errorf("%w: entry %q repeats", ErrMalformed, hdr.Name)
		}
		if hdr.Size < 0 || hdr.Size > MaxObjectSize {
			return nil, fmt.Errorf("%w: entry %q of %d bytes", ErrMalformed, hdr.Name, hdr.Size)
		}
		data, err := readN(tr, hdr.Size)
		if err != nil {
			return nil, err
		}
		sum := blake3.Sum256(data)
		got[hdr.Name] = seen{int64(len(data)), hex.EncodeToString(sum[:])}
		if fn != nil {
			if err := fn(h, data); err != nil {
				return nil, err
			}
		}
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: no %s (truncated archive?)", ErrMalformed, ManifestName)
	}
	m, err := OpenManifest(raw)
	if err != nil {
		return nil, err
	}
	var problems []string
	listed := map[string]bool{}
	for _, o := range m.Objects {
		listed[o.Path] = true
		g, ok := got[o.Path]
		switch {
		case !ok:
			problems = append(problems, o.Path+": missing")
		case g.size != o.Size || g.sum != o.BLAKE3:
			problems = append(problems, o.Path+": content differs from the manifest")
		}
	}
	for p := range got {
		if !listed[p] {
			problems = append(problems, p+": not in the manifest")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("and %d more", len(problems)-10))
		}
		return nil, fmt.Errorf("%w: %s", ErrTampered, strings.Join(problems, "; "))
	}
	return &Contents{Manifest: m, Raw: raw}, nil
}

// ErrTampered means the archive's objects do not match its signed manifest.
var ErrTampered = errors.New("archive does not match its manifest")

func readN(r io.Reader, n int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil || int64(len(data)) != n {
		return nil, fmt.Errorf("%w: truncated entry: %v", ErrMalformed, err)
	}
	return data, nil
}

func parsePath(p string) (site.Handle, error) {
	kind, name, ok := strings.Cut(p, "/")
	if !ok {
		return site.Handle{}, fmt.Errorf("%w: entry %q is not <kind>/<name>", ErrMalformed, p)
	}
	k, err := site.ParseKind(kind)
	if err != nil {
		return site.Handle{}, fmt.Errorf("%w: entry %q: %v", ErrMalformed, p, err)
	}
	h := site.Handle{Kind: k, Name: name}
	if err := h.Validate(); err != nil {
		return site.Handle{}, fmt.Errorf("%w: entry %q: %v", ErrMalformed, p, err)
	}
	return h, nil
}
