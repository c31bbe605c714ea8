// Package repo implements the vault's repository format at its storage sites:
// key epochs and custodian shares, per-dataset keys wrapped with hybrid
// post-quantum HPKE, packs of sealed blobs, indexes and signed snapshot
// manifests. Every object is immutable, written once, and named by a hash.
// The format is specified in docs/FORMAT.md.
//
// A Repo writes every object to all of its sites (full replicas) and reads
// from the first site that returns an authentic copy.
package repo

import (
	"context"
	"crypto/hpke"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/site"
)

// Site is one storage site as the repository uses it.
type Site struct {
	Name         string
	Jurisdiction string
	Backend      site.Backend // nil if the site could not be opened
	// MetaOnly marks the home's own mirror of the small key and config
	// objects: it takes and serves only those kinds, never data.
	MetaOnly bool
	// RetainFor asks the site to keep vault data (not keys) undeletable
	// for this long after writing (object lock), where it supports it.
	RetainFor time.Duration

	mu      sync.Mutex
	err     error
	readErr error
}

// noteRead records a read at s that failed while another site served the
// object: a damaged or unreadable copy the session survived.
func (s *Site) noteRead(err error) {
	s.mu.Lock()
	if s.readErr == nil {
		s.readErr = err
	}
	s.mu.Unlock()
}

// ReadErr returns the first damaged or unreadable copy s served in this
// session that another site's copy replaced, if any.
func (s *Site) ReadErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readErr
}

// Fail records the first error seen at s in this session.
func (s *Site) Fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Err returns the first recorded failure, if any.
func (s *Site) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Site) usable() bool { return s.Backend != nil && s.Err() == nil }

// putOptions are the options of a create-only write of h to s: with
// retention for vault data when the site asks for it, never for keys.
func (s *Site) putOptions(h site.Handle, now time.Time) site.PutOptions {
	opts := site.PutOptions{IfAbsent: true}
	if s.RetainFor > 0 && h.Kind != site.KindKey && h.Kind != site.KindLock {
		opts.RetainUntil = now.Add(s.RetainFor)
	}
	return opts
}

// holds reports whether s stores objects of kind k.
func (s *Site) holds(k site.Kind) bool {
	return !s.MetaOnly || k == site.KindConfig || k == site.KindKey
}

// readAlign is the read unit (site.Properties.ReadAlign) of the first
// site a pack is read from, or 0.
func (r *Repo) readAlign() int64 {
	for _, s := range r.sites {
		if s.Backend != nil && s.holds(site.KindPack) {
			return s.Backend.Properties().ReadAlign
		}
	}
	return 0
}

// Options configure a Repo.
type Options struct {
	Home        string // expected home id ("" accepts the site's)
	Root        *keys.Root
	Sites       []*Site
	Logger      *slog.Logger
	PackSize    int        // target pack size in bytes
	Compression codec.Mode // per-chunk compression policy
	// OnAlert is called for every attack or damage a site is caught at
	// (besides a slog warning naming the site).
	OnAlert func(Alert)
	// Legacy opens a vault written before signed key records and state
	// (only for Upgrade).
	Legacy bool
	// OnUnwrap, if set, is called with every dataset key record the root
	// key unwrapped, once per call of Datasets that unwrapped any (the
	// key-custody log: internal/vault records each as a key.unwrap entry).
	OnUnwrap func(ctx context.Context, us []Unwrap)
	// CacheDir, if set, is the home's cache folder: large datasets keep
	// their index there (index/<dsid>.idx, docs/FORMAT.md §9.1).
	CacheDir string
	// Now is the clock that stamps snapshots, states, key records, alerts
	// and retention (the vault's clock, internal/vault Options.Clock);
	// nil: the wall clock.
	Now func() time.Time
}

// now is the repository's clock (Options.Now), in UTC.
func (r *Repo) now() time.Time {
	if r.opts.Now != nil {
		return r.opts.Now().UTC()
	}
	return time.Now().UTC() //nolint:forbidigo // the default clock: internal/vault passes Options.Now
}

// Unwrap is one dataset key record the root key unwrapped.
type Unwrap struct {
	Dataset string // dataset id
	Version uint32 // key version
	Epoch   uint32 // key epoch of the root key used
	Site    string // the site the wrapped record was read from
	Used    bool   // false: unwrapped only to tell the home's own uncommitted record from a planted one
}

// Repo is an open repository.
type Repo struct {
	opts     Options
	home     string
	sites    []*Site
	root     *keys.Root
	kem      hpke.PrivateKey
	desc     *RepoBody
	epochs   map[uint32]*Epoch
	current  uint32
	log      *slog.Logger
	mu       sync.Mutex
	datasets map[string]*DatasetKeys // by dataset id
	packBufs sync.Pool

	stateMu  sync.Mutex
	state    *StateBody // freshest signed state; nil for a legacy vault
	stateRaw []byte
	stale    map[string]uint64
	legacy   bool

	alertMu sync.Mutex
	alerts  []Alert
}

// getPackBuf returns a pooled buffer of at least size bytes capacity
// (size 0: any pooled buffer, or an empty one).
func (r *Repo) getPackBuf(size int) []byte {
	if b, ok := r.packBufs.Get().(*[]byte); ok && cap(*b) >= size {
		return (*b)[:0]
	}
	return make([]byte, 0, size)
}

func (r *Repo) putPackBuf(b []byte) {
	b = b[:0]
	r.packBufs.Put(&b)
}

// DefaultPackSize is the target size of a pack file.
const DefaultPackSize = 8 << 20

// Open loads and verifies the repository descriptor and key epochs from the
// first site that has them. A nil Root opens the repository for public
// operations only (structure checks, key-epoch inspection).
func Open(ctx context.Context, o Options) (*Repo, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PackSize <= 0 {
		o.PackSize = DefaultPackSize
	}
	r := &Repo{opts: o, sites: o.Sites, log: o.Logger, datasets: make(map[string]*DatasetKeys), legacy: o.Legacy}
	var errs []error
	shown := map[*Site]int{}
	for _, s := range r.orderedSites() {
		if s.Backend == nil {
			errs = append(errs, fmt.Errorf("site %s: %w", s.Name, s.Err()))
			continue
		}
		cfg, err := r.readConfig(ctx, s, r.opts.Home)
		if err != nil {
			if errors.Is(err, ErrForeignHome) || errors.Is(err, ErrSignature) {
				if o.Home == "" && r.desc == nil {
					return nil, hint.Wrap(fmt.Errorf("site %s: %w", s.Name, err),
						"this site does not hold this home's vault; check the site URL in the configuration")
				}
				r.alert(ctx, Alert{Site: s.Name, Attack: AttackForgedState, Object: "config", Detail: err.Error()})
			}
			if errors.Is(err, site.ErrNotFound) {
				// A home whose mirror is not yet populated, or a site
				// registered with --no-copy: empty, not failed, so that
				// 'site sync' (and the home's writes) can fill it.
				continue
			}
			s.Fail(err)
			errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
			continue
		}
		if r.desc != nil && cfg.desc.Home != r.home {
			err := fmt.Errorf("site holds home %s, not %s: %w", cfg.desc.Home, r.home, ErrForeignHome)
			r.alert(ctx, Alert{Site: s.Name, Attack: AttackForgedState, Object: "config/repo", Detail: err.Error()})
			s.Fail(err)
			continue
		}
		shown[s] = len(cfg.epochs)
		if r.desc == nil || len(cfg.epochs) > len(r.epochs) {
			r.setConfig(cfg)
		}
	}
	if r.desc == nil {
		if len(r.sites) == 0 {
			return nil, hint.Wrap(errors.New("no sites configured"), "add one with 'embassy site add NAME --url DIR --jurisdiction CC'")
		}
		if len(errs) == 1 && len(r.Sites()) <= 1 {
			for _, e := range errs {
				if errors.Is(e, ErrForeignHome) || errors.Is(e, ErrSignature) {
					return nil, hint.Wrap(e, "this site does not hold this home's vault; check the site URL in the configuration")
				}
			}
		}
		why := errors.Join(errs...)
		if why == nil { // every site answered, none holds a descriptor
			why = errors.New("no site holds this home's vault descriptor")
		}
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("no site could be read: %w", why),
			"check that the sites are reachable ('embassy site list') and that the home was initialised ('embassy init')"), hint.CodeDamaged)
	}
	for s, n := range shown {
		if n < len(r.epochs) {
			r.alert(ctx, Alert{Site: s.Name, Attack: AttackHiddenEpoch, Object: "config/" + epochName(r.current),
				Detail: fmt.Sprintf("site shows key epochs up to %d but the home knows %d; the site is stale or hiding the newest epoch (run 'embassy site sync')", n, r.current)})
		}
	}
	if err := r.loadState(ctx); err != nil {
		return nil, err
	}
	if o.Root != nil {
		if err := r.SetRoot(o.Root); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// SetRoot gives the repository the home's root key, after checking that it
// is the key of the sites' current epoch.
func (r *Repo) SetRoot(root *keys.Root) error {
	if root.Epoch != r.current {
		return hint.WithCode(hint.Wrap(fmt.Errorf("home holds root key epoch %d but the sites are at epoch %d", root.Epoch, r.current),
			"another machine rotated the keys; rebuild a home in a new folder: "+hint.Recover), hint.CodeKey)
	}
	pub, err := root.PublicKEM()
	if err != nil {
		return err
	}
	if b64(pub) != r.epochs[r.current].KEM {
		return hint.WithCode(hint.Wrap(errors.New("home's root key does not match the sites' key epoch record"),
			"the key file in this home belongs to another vault; rebuild a home in a new folder: "+hint.Recover), hint.CodeKey)
	}
	kem, err := root.KEM()
	if err != nil {
		return err
	}
	r.root, r.kem = root, kem
	return nil
}

// vaultConfig is a site's verified descriptor and epoch chain.
type vaultConfig struct {
	desc   *RepoBody
	epochs map[uint32]*Epoch
}

func (r *Repo) setConfig(c *vaultConfig) {
	r.desc, r.home, r.epochs = c.desc, c.desc.Home, c.epochs
	r.current = 0
	for e := range c.epochs {
		r.current = max(r.current, e)
	}
}

// loadConfig reads and adopts the descriptor and epoch chain of s.
func (r *Repo) loadConfig(ctx context.Context, s *Site) error {
	c, err := r.readConfig(ctx, s, r.opts.Home)
	if err != nil {
		return err
	}
	r.setConfig(c)
	return nil
}

func (r *Repo) readConfig(ctx context.Context, s *Site, wantHome string) (*vaultConfig, error) {
	data, err := readLimited(ctx, s.Backend, site.Handle{Kind: site.KindConfig, Name: "repo"}, maxConfigSize)
	if err != nil {
		if errors.Is(err, site.ErrNotFound) {
			return nil, hint.Wrap(fmt.Errorf("no vault at this site (config/repo missing): %w", err), "initialise a home with 'embassy init', or check the site URL")
		}
		return nil, err
	}
	desc, pub, err := verifyRepoBody(data, wantHome)
	if err != nil {
		return nil, err
	}
	records := make(map[uint32][]byte)
	err = s.Backend.List(ctx, site.KindConfig, func(fi site.Info) error {
		e, ok := parseEpochName(fi.Handle.Name)
		if !ok {
			return nil
		}
		b, err := readLimited(ctx, s.Backend, fi.Handle, maxConfigSize)
		if err != nil {
			return err
		}
		records[e] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("no key epoch records: %w", errFormat)
	}
	eps, err := verifyEpochs(desc.Home, pub, records)
	if err != nil {
		return nil, err
	}
	return &vaultConfig{desc: desc, epochs: eps}, nil
}

// Home returns the home id.
func (r *Repo) Home() string { return r.home }

// Descriptor returns the verified repository descriptor.
func (r *Repo) Descriptor() RepoBody { return *r.desc }

// Epochs returns the verified key epochs.
func (r *Repo) Epochs() map[uint32]*Epoch { return r.epochs }

// CurrentEpoch returns the newest key epoch.
func (r *Repo) CurrentEpoch() *Epoch { return r.epochs[r.current] }

// Sites returns the storage sites in preference order (not the home mirror).
func (r *Repo) Sites() []*Site {
	var out []*Site
	for _, s := range r.sites {
		if !s.MetaOnly {
			out = append(out, s)
		}
	}
	return out
}

// LocalFirst reports whether reads go first to a site on a local file
// system (where exact reads are cheapest), rather than over a network.
func (r *Repo) LocalFirst() bool {
	for _, s := range r.Sites() {
		if s.Backend != nil && s.Err() == nil {
			loc := s.Backend.Properties().Location
			return strings.HasPrefix(loc, "file:") || strings.HasPrefix(loc, "/")
		}
	}
	return true
}

// Root returns the root key, or nil.
func (r *Repo) Root() *keys.Root { return r.root }

func (r *Repo) needRoot() error {
	if r.root == nil {
		return hint.WithCode(hint.Wrap(errors.New("this operation needs the home's root key"),
			"run it on the home machine, or rebuild a home in a new folder: "+hint.Recover), hint.CodeKey)
	}
	return nil
}

// SiteErrors returns the sites that failed in this session.
func (r *Repo) SiteErrors() map[string]error {
	out := map[string]error{}
	for _, s := range r.sites {
		if err := s.Err(); err != nil {
			out[s.Name] = err
		}
	}
	return out
}

// PutAll writes an immutable object to every usable site, concurrently. An
// object that already exists counts as written (objects are named by their
// content). It fails only if no site took the object; failing sites are
// recorded and skipped for the rest of the session.
func (r *Repo) PutAll(ctx context.Context, h site.Handle, data []byte) error {
	crashpoint.Hit("repo.put")
	return r.putAll(ctx, h, data, false)
}

// SyncAll makes deferred writes durable at every usable site.
func (r *Repo) SyncAll(ctx context.Context) error {
	var errs []error
	for _, s := range r.sites {
		if !s.usable() {
			continue
		}
		if err := site.Sync(ctx, s.Backend); err != nil {
			s.Fail(err)
			errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
		}
	}
	if len(errs) > 0 && len(errs) == len(r.Sites()) {
		return errors.Join(errs...)
	}
	return nil
}

func (r *Repo) putAll(ctx context.Context, h site.Handle, data []byte, deferred bool) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, metaOK := 0, false
	var errs []error
	for _, s := range r.sites {
		if !s.usable() || !s.holds(h.Kind) {
			continue
		}
		wg.Add(1)
		go func(s *Site) {
			defer wg.Done()
			opts := s.putOptions(h, r.now())
			opts.Deferred = deferred
			err := s.Backend.Put(ctx, h, site.Bytes(data), opts)
			if errors.Is(err, site.ErrExists) {
				err = nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					s.Fail(fmt.Errorf("write %s: %w", h, err))
					r.log.WarnContext(ctx, "site write failed", "site", s.Name, "object", h.String(), "err", err)
				}
				errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
				return
			}
			if !s.MetaOnly {
				ok++
			} else {
				metaOK = true
			}
		}(s)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if ok == 0 && metaOK && len(r.Sites()) == 0 {
		return nil // no storage sites yet: the home mirror holds it until one is added
	}
	if ok == 0 {
		if len(errs) == 0 {
			var failed []error
			for _, s := range r.sites {
				if err := s.Err(); err != nil && s.holds(h.Kind) {
					failed = append(failed, fmt.Errorf("site %s: %w", s.Name, err))
				}
			}
			err := errors.New("no usable site to write to")
			if len(failed) > 0 {
				err = fmt.Errorf("write %s failed at every site: %w", h, errors.Join(failed...))
			}
			return hint.WithCode(hint.Wrap(err, "check 'embassy site list' and the sites' reachability"), hint.CodeDamaged)
		}
		return hint.WithCode(fmt.Errorf("write %s failed at every site: %w", h, errors.Join(errs...)), hint.CodeDamaged)
	}
	return nil
}

// DeleteAll removes an object from every usable site; missing is fine.
func (r *Repo) DeleteAll(ctx context.Context, h site.Handle) error {
	crashpoint.Hit("repo.delete")
	var errs []error
	for _, s := range r.sites {
		if !s.usable() || !s.holds(h.Kind) {
			continue
		}
		if err := s.Backend.Delete(ctx, h); err != nil && !errors.Is(err, site.ErrNotFound) {
			errs = append(errs, fmt.Errorf("site %s: delete %s: %w", s.Name, h, err))
		}
	}
	return errors.Join(errs...)
}

// ReadErrors returns the sites that served a damaged or unreadable copy
// in this session which another site's copy replaced.
func (r *Repo) ReadErrors() map[string]error {
	out := map[string]error{}
	for _, s := range r.sites {
		if err := s.ReadErr(); err != nil {
			out[s.Name] = err
		}
	}
	return out
}

// readFirst calls fn with the bytes of h from each site in turn until fn
// accepts them (returns nil). It returns the last error otherwise. Sites
// whose copy was damaged or unreadable while a later site's was good are
// noted (see ReadErrors); a copy that is merely missing is not.
func (r *Repo) readFirst(ctx context.Context, h site.Handle, off, n int64, fn func(s *Site, b []byte) error) error {
	var errs []error
	type failure struct {
		s   *Site
		err error
	}
	var failed []failure
	for _, s := range r.sites {
		if s.Backend == nil || !s.holds(h.Kind) {
			continue
		}
		var b []byte
		var err error
		if n > 0 {
			b, err = site.ReadRange(ctx, s.Backend, h, off, n)
		} else {
			b, err = readBounded(ctx, s.Backend, h, MaxObjectSize(h)) // the errors below name h
		}
		if err == nil {
			if err = fn(s, b); err == nil {
				for _, f := range failed {
					f.s.noteRead(fmt.Errorf("read %s: %w", h, f.err))
				}
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, site.ErrNotFound) {
			failed = append(failed, failure{s, err})
		}
		errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
	}
	if len(errs) == 0 {
		return fmt.Errorf("read %s: no site available", h)
	}
	return fmt.Errorf("read %s: %w", h, errors.Join(errs...))
}

// listUnion lists kind k across all usable sites, calling fn once per name.
func (r *Repo) listUnion(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	seen := map[string]bool{}
	listed := false
	var errs []error
	for _, s := range r.sites {
		if s.Backend == nil || !s.holds(k) {
			continue
		}
		err := s.Backend.List(ctx, k, func(fi site.Info) error {
			if seen[fi.Handle.Name] {
				return nil
			}
			seen[fi.Handle.Name] = true
			return fn(fi)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: list %s: %w", s.Name, k, err))
			s.Fail(err)
			continue
		}
		listed = true
	}
	if !listed {
		return errors.Join(errs...)
	}
	return nil
}

// listUnionSites lists kind k at every usable site (the home mirror
// first), calling fn for each site's every object.
func (r *Repo) listUnionSites(ctx context.Context, k site.Kind, fn func(*Site, site.Info) error) error {
	listed := false
	var errs []error
	for _, s := range r.orderedSites() {
		if s.Backend == nil || !s.holds(k) {
			continue
		}
		err := s.Backend.List(ctx, k, func(fi site.Info) error { return fn(s, fi) })
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: list %s: %w", s.Name, k, err))
			s.Fail(err)
			continue
		}
		listed = true
	}
	if !listed {
		return errors.Join(errs...)
	}
	return nil
}

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
