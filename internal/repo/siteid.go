package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/digital-embassy/embassy/internal/site"
)

// SiteMarker is the handle of a site's identity marker. It lives in the
// lock namespace, which is never copied between sites, so each storage
// location keeps its own (docs/FORMAT.md, "Site identity").
var SiteMarker = site.Handle{Kind: site.KindLock, Name: "site-id"}

const siteMarkerFormat = "embassy.site-id.v1"

type siteMarker struct {
	Format string `json:"format"`
	ID     string `json:"id"` // 32 hex digits, random
}

// ReadSiteID returns the identity marker of the storage behind b, or ""
// if it has none.
func ReadSiteID(ctx context.Context, b site.Backend) (string, error) {
	if fi, err := b.Stat(ctx, SiteMarker); err == nil && fi.Size > 1024 {
		return "", fmt.Errorf("site identity marker is %d bytes: %w", fi.Size, errFormat)
	}
	raw, err := site.ReadAll(ctx, b, SiteMarker)
	if errors.Is(err, site.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read site identity marker: %w", err)
	}
	return decodeSiteMarker(raw)
}

func decodeSiteMarker(raw []byte) (string, error) {
	var m siteMarker
	if len(raw) > 1024 || json.Unmarshal(raw, &m) != nil || m.Format != siteMarkerFormat {
		return "", fmt.Errorf("site identity marker is not %s: %w", siteMarkerFormat, errFormat)
	}
	if b, err := hex.DecodeString(m.ID); err != nil || len(b) != 16 || hex.EncodeToString(b) != m.ID {
		return "", fmt.Errorf("site identity marker id %q is not 32 lowercase hex digits: %w", m.ID, errFormat)
	}
	return m.ID, nil
}

// EnsureSiteID returns the marker of the storage behind b, writing a new
// random one (create-only) if there is none. Of two concurrent writers,
// the first wins and both return its id.
func EnsureSiteID(ctx context.Context, b site.Backend) (string, error) {
	id, err := ReadSiteID(ctx, b)
	if err != nil || id != "" {
		return id, err
	}
	var r [16]byte
	rand.Read(r[:])
	raw, _ := json.Marshal(siteMarker{Format: siteMarkerFormat, ID: hex.EncodeToString(r[:])})
	err = b.Put(ctx, SiteMarker, site.Bytes(raw), site.PutOptions{IfAbsent: true})
	if err != nil && !errors.Is(err, site.ErrExists) {
		return "", fmt.Errorf("write site identity marker: %w", err)
	}
	return ReadSiteID(ctx, b)
}

// SameStorage returns the names of the sites in others whose storage is
// the storage behind b: the same folder or bucket prefix registered under
// another name. Every site gets a marker if it has none, so sites
// registered before markers existed are checked too. A site that cannot
// be reached is an error: the answer would be a guess.
func SameStorage(ctx context.Context, b site.Backend, others []*Site) ([]string, error) {
	id, err := EnsureSiteID(ctx, b)
	if err != nil {
		return nil, err
	}
	var same []string
	for _, s := range others {
		if s.Backend == nil || s.Backend == b {
			continue
		}
		oid, err := EnsureSiteID(ctx, s.Backend)
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", s.Name, err)
		}
		if oid == id {
			same = append(same, s.Name)
		}
	}
	return same, nil
}
