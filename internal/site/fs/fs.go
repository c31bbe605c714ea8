// Package fs is the embedded default site: a local directory holding one
// file per object at <root>/<kind>/<name>.
//
// Writes are crash safe: an object is written to a ".tmp-" file in its
// target directory, synced, then linked (create-only) or renamed into place,
// and the directory is synced. List skips temp files; Clean removes stale ones.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/digital-embassy/embassy/internal/site"
)

// Config describes a directory site.
type Config struct {
	Path         string // the site directory; made absolute by New
	Name         string
	Jurisdiction string
	Connections  int  // concurrent requests worth making; 0 means 4
	Create       bool // create Path (and missing parents) if absent
}

// ParseConfig parses "file:///abs/path" or a plain path.
func ParseConfig(s string) (Config, error) {
	if s == "" {
		return Config{}, errors.New("empty site path")
	}
	if !strings.HasPrefix(s, "file:") {
		return Config{Path: filepath.Clean(s)}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("parse site url: %w", err)
	}
	switch {
	case u.Opaque != "":
		return Config{}, fmt.Errorf("site url %q: want file:///absolute/path", s)
	case u.Host != "" && u.Host != "localhost":
		return Config{}, fmt.Errorf("site url %q: remote host %q not supported by file://", s, u.Host)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return Config{}, fmt.Errorf("site url %q: user, query and fragment not supported by file://", s)
	case u.Path == "" || !filepath.IsAbs(u.Path):
		return Config{}, fmt.Errorf("site url %q: want file:///absolute/path", s)
	}
	return Config{Path: filepath.Clean(u.Path)}, nil
}

// Backend is a directory site.
type Backend struct {
	root    string
	props   site.Properties
	pendMu  sync.Mutex
	pending []string // files put with Deferred, not yet synced
	// pendingDirs are the folders a deferred put created entries in
	// (new subfolders), not yet synced: their fsync waits for the
	// device, and the uploader that made the folder should not.
	pendingDirs []string
	packs       *fdCache // pack files kept open for ranged reads
	direct      *directIO
}

var (
	_ site.Backend = (*Backend)(nil)
	_ site.Syncer  = (*Backend)(nil)
)

// New opens the site directory cfg.Path, creating it if cfg.Create is set.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return nil, errors.New("site directory not set")
	}
	root, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("site directory %s: %w", cfg.Path, err)
	}
	fi, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) && cfg.Create {
		err = mkdirAll(root)
		if err == nil {
			fi, err = os.Stat(root)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("site directory %s does not exist: create it or check the path", root)
	case err != nil:
		return nil, hint(fmt.Errorf("open site directory: %w", err), root)
	case !fi.IsDir():
		return nil, fmt.Errorf("site directory %s is not a directory", root)
	}
	if cfg.Connections < 1 {
		cfg.Connections = 4
	}
	b := &Backend{root: root, packs: newFDCache(maxOpenPacks), direct: newDirectIO(), props: site.Properties{
		Name:         cfg.Name,
		Jurisdiction: cfg.Jurisdiction,
		Location:     (&url.URL{Scheme: "file", Path: filepath.ToSlash(root)}).String(),
		Connections:  cfg.Connections,
	}}
	b.cleanOnOpen(ctx)
	return b, nil
}

// Root returns the absolute site directory.
func (b *Backend) Root() string { return b.root }

func (b *Backend) Properties() site.Properties { return b.props }

// Close closes the pack files kept open (those being read close when
// their Get returns). Later Gets still work, without the cache.
func (b *Backend) Close() error {
	b.packs.close()
	return nil
}

// path returns the file of h after checking h and ctx.
func (b *Backend) path(ctx context.Context, h site.Handle) (string, error) {
	if err := h.Validate(); err != nil {
		return "", site.Permanent(err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return filepath.Join(b.root, h.Kind.String(), filepath.FromSlash(h.Name)), nil
}
