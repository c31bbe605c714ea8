// Package vault is the service layer: one opened home and its vault, and
// the operations every entry point (the command line, protect, drills,
// operate, the daemon) calls. Each operation takes its locks from one
// matrix (lock.go), asks the one policy gate built for the opened vault
// (gate.go) and writes its transparency-log entry through the one recorder
// (record.go), so the same operation leaves the same trace whoever starts
// it.
package vault

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/location"
)

// Options configure an opened vault.
type Options struct {
	Logger *slog.Logger
	// Clock is the time every decision, entry and snapshot is stamped
	// with; nil is the system clock. Entry points read any override
	// (EMBASSY_NOW) once and pass it here.
	Clock func() time.Time
	// Warn receives problems that do not stop an operation (a site that
	// failed while others succeeded, a policy shortfall, a skipped file).
	Warn func(msg string)
	// Note receives warnings that do not change the outcome's exit code.
	Note func(msg string)
	// RetryLock is how long to wait for a lock another process holds
	// before giving up (0: fail at once).
	RetryLock time.Duration
	// Actor is recorded as the actor of log entries ("" is "home").
	Actor string
	// WitnessTransport, if set, reaches the log's remote witnesses (host
	// witnesses over mutual TLS with the home's certificate).
	WitnessTransport http.RoundTripper
	// OpenSite, if set, opens a configured site instead of its URL (tests
	// use in-memory sites; embedders may bring their own backends).
	OpenSite func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error)
}

// Vault is one opened home. It is used by one command (or one long-running
// protect loop) at a time; the policy gate and the recorder are built once.
type Vault struct {
	Home *home.Home
	Repo *repo.Repo // nil until OpenRepo

	log   *slog.Logger
	clock func() time.Time
	warn  func(string)
	retry time.Duration
	actor string
	open  func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error)
	wtr   http.RoundTripper
	note  func(string)

	gateOnce sync.Once
	gate     *Gate
	gateErr  error
	recOnce  sync.Once
	rec      *Recorder
	bg       breakGlass // BreakGlassAt's incremental state
}

// New wraps an opened home; the repository is opened with OpenRepo.
func New(h *home.Home, o Options) *Vault {
	v := &Vault{Home: h, log: o.Logger, clock: o.Clock, warn: o.Warn, retry: o.RetryLock, actor: o.Actor, open: o.OpenSite, wtr: o.WitnessTransport, note: o.Note}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.clock == nil {
		v.clock = time.Now //nolint:forbidigo // the one default clock: callers that pin it pass Options.Clock
	}
	if v.warn == nil {
		v.warn = func(msg string) { v.log.Warn(msg) }
	}
	if v.actor == "" {
		v.actor = "home"
	}
	return v
}

// Open opens the home in dir and its vault; with keys the root key of the
// sites' current epoch is loaded too. Close it when done.
func Open(ctx context.Context, dir string, keys bool, o Options) (*Vault, error) {
	h, err := home.Open(dir)
	if err != nil {
		return nil, err
	}
	v := New(h, o)
	if _, err := v.OpenRepo(ctx, keys); err != nil {
		return nil, err
	}
	return v, nil
}

// Now is the vault's clock, in UTC.
func (v *Vault) Now() time.Time { return v.clock().UTC() }

// Logger is the vault's diagnostic logger.
func (v *Vault) Logger() *slog.Logger { return v.log }

// Warnf reports a problem that does not stop the operation.
func (v *Vault) Warnf(format string, a ...any) { v.warn(fmt.Sprintf(format, a...)) }

// notef reports a warning that does not change the exit code.
func (v *Vault) notef(format string, a ...any) {
	if v.note != nil {
		v.note(fmt.Sprintf(format, a...))
	} else {
		v.log.Warn(fmt.Sprintf(format, a...))
	}
}

// LocationOptions resolve erasure-group members and daemon certificates
// from the home.
func (v *Vault) LocationOptions() location.Options {
	h := v.Home
	return location.Options{Logger: v.log, PKIDir: filepath.Join(h.Dir, "pki"),
		Members: func(name string) (string, site.Properties, error) {
			sc, _ := h.Site(name)
			if sc == nil {
				return "", site.Properties{}, fmt.Errorf("no site named %q in the registry (add it with 'embassy site add %s --member ...')", name, name)
			}
			return sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, nil
		}}
}

// Backend opens the storage of a configured site (creating it with
// create: the folder or the bucket).
func (v *Vault) Backend(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error) {
	if v.open != nil {
		return v.open(ctx, sc, create)
	}
	lo := v.LocationOptions()
	lo.Create = create
	return location.Open(ctx, sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction}, lo)
}

// OpenSite opens one configured site; a failure is kept in the Site.
func (v *Vault) OpenSite(ctx context.Context, sc home.SiteConfig) *repo.Site {
	s := &repo.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, RetainFor: time.Duration(sc.RetainDays) * 24 * time.Hour}
	b, err := v.Backend(ctx, sc, false)
	if err != nil {
		s.Fail(err)
		return s
	}
	s.Backend = b
	return s
}

// metaSite is the home's mirror of key and config objects.
func (v *Vault) MetaSite(ctx context.Context) (*repo.Site, error) {
	b, err := fs.New(ctx, fs.Config{Path: v.Home.MetaDir(), Name: "home", Create: true})
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("home mirror %s: %w", v.Home.MetaDir(), err),
			"the home must be writable by this user: check its permissions and free space")
	}
	return &repo.Site{Name: "home", Backend: b, MetaOnly: true}, nil
}

// CompressionMode maps embassy.yaml's compression setting.
func CompressionMode(s string) codec.Mode {
	switch s {
	case "off":
		return codec.Off
	case "max":
		return codec.Max
	}
	return codec.Auto
}

// OpenRepo opens the vault over every configured site (members are opened
// inside their group) and the home's mirror. Unreachable sites are
// reported and skipped. With keys the root key is loaded.
func (v *Vault) OpenRepo(ctx context.Context, keys bool) (*repo.Repo, error) {
	h := v.Home
	var sites []*repo.Site
	for _, sc := range h.Config.Sites {
		if sc.Member {
			continue
		}
		s := v.OpenSite(ctx, sc)
		if err := s.Err(); err != nil {
			v.Warnf("site %s is unavailable: %v", s.Name, err)
		}
		sites = append(sites, s)
	}
	meta, err := v.MetaSite(ctx)
	if err != nil {
		return nil, err
	}
	sites = append(sites, meta)
	r, err := repo.Open(ctx, repo.Options{Home: h.Config.Home, Sites: sites, Logger: v.log, Now: v.clock, OnAlert: v.siteAlert, OnUnwrap: v.recordUnwraps,
		PackSize: h.Config.PackSizeMiB << 20, Compression: CompressionMode(h.Config.Compression), CacheDir: h.CacheDir()})
	if err != nil {
		return nil, err
	}
	if keys {
		root, err := h.LoadRoot(r.CurrentEpoch().Epoch)
		if err != nil {
			closeSites(r)
			return nil, err
		}
		if err := r.SetRoot(root); err != nil {
			closeSites(r)
			return nil, err
		}
	}
	if v.Repo == nil {
		v.Repo = r
	}
	return r, nil
}

// Close writes the key.unwrap entries not yet in the log (Flush) and
// closes the sites of the vault's repository.
func (v *Vault) Close() {
	v.Flush(context.Background())
	if v.Repo != nil {
		closeSites(v.Repo)
	}
}

func closeSites(r *repo.Repo) {
	for _, s := range r.Sites() {
		if s.Backend != nil {
			_ = s.Backend.Close()
		}
	}
}

// SiteNames lists the sites that are open and have not failed.
func SiteNames(r *repo.Repo) []string {
	var out []string
	for _, s := range r.Sites() {
		if s.Backend != nil && s.Err() == nil {
			out = append(out, s.Name)
		}
	}
	return out
}
