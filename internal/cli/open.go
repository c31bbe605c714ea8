package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/location"
)

func (e *env) homePath() (string, error) {
	if e.homeDir != "" {
		return e.homeDir, nil
	}
	return home.DefaultDir()
}

func (e *env) openHome() (*home.Home, error) {
	dir, err := e.homePath()
	if err != nil {
		return nil, err
	}
	return home.Open(dir)
}

// openSite opens one configured site; failures are returned in the Site.
func (e *env) openSite(sc home.SiteConfig) *repo.Site {
	s := &repo.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, RetainFor: time.Duration(sc.RetainDays) * 24 * time.Hour}
	b, err := location.Open(e.ctx, sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, e.locationOptions(nil))
	if err != nil {
		s.Fail(err)
		return s
	}
	s.Backend = b
	return s
}

// locationOptions resolves erasure-group members from the home's registry.
func (e *env) locationOptions(h *home.Home) location.Options {
	o := location.Options{Logger: e.log}
	if h == nil {
		h, _ = e.openHome()
	}
	if h != nil {
		o.PKIDir = filepath.Join(h.Dir, "pki")
		o.Members = func(name string) (string, site.Properties, error) {
			sc, _ := h.Site(name)
			if sc == nil {
				return "", site.Properties{}, fmt.Errorf("no site named %q in the registry (add it with 'embassy site add %s --member ...')", name, name)
			}
			return sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, nil
		}
	}
	return o
}

// metaSite is the home's mirror of key and config objects.
func (e *env) metaSite(h *home.Home) (*repo.Site, error) {
	b, err := fs.New(e.ctx, fs.Config{Path: h.MetaDir(), Name: "home", Create: true})
	if err != nil {
		return nil, fmt.Errorf("home mirror: %w", err)
	}
	return &repo.Site{Name: "home", Backend: b, MetaOnly: true}, nil
}

func compressionMode(s string) codec.Mode {
	switch s {
	case "off":
		return codec.Off
	case "max":
		return codec.Max
	}
	return codec.Auto
}

// openRepo opens the home's vault. With keys, the root key is loaded too.
// Unreachable sites are reported and skipped.
func (e *env) openRepo(h *home.Home, keys bool) (*repo.Repo, error) {
	var sites []*repo.Site
	for _, sc := range h.Config.Sites {
		if sc.Member {
			continue // opened inside its group
		}
		s := e.openSite(sc)
		if err := s.Err(); err != nil {
			e.warnf("site %s is unavailable: %v", s.Name, err)
		}
		sites = append(sites, s)
	}
	meta, err := e.metaSite(h)
	if err != nil {
		return nil, err
	}
	sites = append(sites, meta)
	r, err := repo.Open(e.ctx, repo.Options{Home: h.Config.Home, Sites: sites, Logger: e.log, OnAlert: e.siteAlerts(h),
		PackSize: h.Config.PackSizeMiB << 20, Compression: compressionMode(h.Config.Compression)})
	if err != nil {
		return nil, err
	}
	if keys {
		root, err := h.LoadRoot(r.CurrentEpoch().Epoch)
		if err != nil {
			return nil, err
		}
		if err := r.SetRoot(root); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// reportSites warns about sites that failed during the command.
func (e *env) reportSites(r *repo.Repo) {
	for name, err := range r.SiteErrors() {
		e.warnf("site %s failed and was skipped: %v", name, err)
	}
	for name, err := range r.ReadErrors() {
		e.warnf("site %s holds a damaged or unreadable copy; another site's was used: %v (run 'embassy verify')", name, err)
	}
}

func (e *env) closeRepo(r *repo.Repo) {
	for _, s := range r.Sites() {
		if s.Backend != nil {
			s.Backend.Close()
		}
	}
}

// openVault opens the home and its vault (with the root key if keys).
// The caller closes the repo with e.closeRepo.
func (e *env) openVault(keys bool) (*home.Home, *repo.Repo, error) {
	h, err := e.openHome()
	if err != nil {
		return nil, nil, err
	}
	r, err := e.openRepo(h, keys)
	if err != nil {
		return nil, nil, err
	}
	return h, r, nil
}
