package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
)

// HomeApplier applies a plan to a home folder through today's APIs: sites
// in embassy.yaml (internal/home), class rules and the recovery distance in
// policy.yaml (internal/policy).
type HomeApplier struct {
	Dir string
	// AddSiteFunc registers a site the way 'embassy site add' does (opening
	// it and copying the vault). Nil: only record it in embassy.yaml.
	AddSiteFunc func(ctx context.Context, sc home.SiteConfig) error
}

var _ Applier = (*HomeApplier)(nil)

func (a *HomeApplier) settings() (policy.Settings, error) {
	base := agreement.DefaultBaseline()
	f, err := os.Open(filepath.Join(a.Dir, policy.SettingsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return policy.DefaultSettings(base), nil
	}
	if err != nil {
		return policy.Settings{}, err
	}
	defer f.Close()
	s, err := policy.ParseSettings(f, base)
	if err != nil {
		return s, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return s, nil
}

func (a *HomeApplier) saveSettings(s policy.Settings) error {
	if err := s.Validate(agreement.DefaultBaseline()); err != nil {
		return fmt.Errorf("policy settings: %w", err)
	}
	return atomicfile.Write(filepath.Join(a.Dir, policy.SettingsFile), s.Marshal(), 0o600)
}

// System reads the sites and class rules of the home.
func (a *HomeApplier) System(context.Context) (System, error) {
	h, err := home.Open(a.Dir)
	if err != nil {
		return System{}, err
	}
	s, err := a.settings()
	if err != nil {
		return System{}, err
	}
	sys := System{HomeState: s.HomeState, HomeLocation: s.HomeLocation, RecoveryKm: s.RecoveryDistanceKm, Sites: h.Config.Sites, Classes: s.Classes}
	if sys.HomeState == "" {
		sys.HomeState = h.Config.HomeState
	}
	if sys.HomeLocation == "" {
		sys.HomeLocation = h.Config.HomeLocation
	}
	return sys, nil
}

// AddSite registers a new site.
func (a *HomeApplier) AddSite(ctx context.Context, sc home.SiteConfig) error {
	if a.AddSiteFunc != nil {
		return a.AddSiteFunc(ctx, sc)
	}
	h, err := home.Open(a.Dir)
	if err != nil {
		return err
	}
	if s, _ := h.Site(sc.Name); s != nil {
		return fmt.Errorf("site %q already exists", sc.Name)
	}
	h.Config.Sites = append(h.Config.Sites, sc)
	if err := h.Config.Validate(); err != nil {
		return err
	}
	return h.Save()
}

// UpdateSite changes a registered site's facts, keeping its URL and jurisdiction.
func (a *HomeApplier) UpdateSite(_ context.Context, sc home.SiteConfig) error {
	h, err := home.Open(a.Dir)
	if err != nil {
		return err
	}
	cur, _ := h.Site(sc.Name)
	if cur == nil {
		return fmt.Errorf("site %q is not registered", sc.Name)
	}
	cur.Operator, cur.Agreement, cur.Location, cur.Tier = sc.Operator, sc.Agreement, sc.Location, sc.Tier
	if err := h.Config.Validate(); err != nil {
		return err
	}
	return h.Save()
}

// SetClassRule replaces the rule for r.Class, or adds it.
func (a *HomeApplier) SetClassRule(_ context.Context, r policy.ClassRule) error {
	s, err := a.settings()
	if err != nil {
		return err
	}
	replaced := false
	for i := range s.Classes {
		if s.Classes[i].Class == r.Class {
			s.Classes[i], replaced = r, true
		}
	}
	if !replaced {
		s.Classes = append(s.Classes, r)
	}
	return a.saveSettings(s)
}

// SetHome records the sending state, the home's location and the recovery distance.
func (a *HomeApplier) SetHome(_ context.Context, state, location string, recoveryKm int) error {
	h, err := home.Open(a.Dir)
	if err != nil {
		return err
	}
	h.Config.HomeState, h.Config.HomeLocation = state, location
	if err := h.Save(); err != nil {
		return err
	}
	s, err := a.settings()
	if err != nil {
		return err
	}
	s.HomeState, s.HomeLocation = state, location
	if recoveryKm > s.RecoveryDistanceKm {
		s.RecoveryDistanceKm = recoveryKm
	}
	return a.saveSettings(s)
}
