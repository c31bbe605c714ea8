package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
)

// AgreementsDir is where a home keeps its installed, verified agreements.
func AgreementsDir(h *home.Home) string { return filepath.Join(h.Dir, "agreements") }

// Agreement is one installed agreement of the home, checked.
type Agreement struct {
	*agreement.Agreement
	Path       string
	Digest     string
	Loosenings []agreement.Loosening
}

// LoadAgreements reads and checks every installed agreement. A file that
// no longer verifies (altered at home) is an error, not a silent skip.
func LoadAgreements(h *home.Home, base *agreement.Baseline) ([]Agreement, error) {
	paths, _ := filepath.Glob(filepath.Join(AgreementsDir(h), "*.yaml"))
	sort.Strings(paths)
	var out []Agreement
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ia, err := CheckAgreement(b, base)
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("installed agreement %s:\n%w", p, err), "restore the file from the signed original with 'embassy agreement add FILE --replace', or remove it")
		}
		ia.Path = p
		out = append(out, ia)
	}
	return out, nil
}

// CheckAgreement parses a document and checks its signatures and the
// baseline. Expiry is not checked here (see agreement.StatusAt).
func CheckAgreement(doc []byte, base *agreement.Baseline) (Agreement, error) {
	a, err := agreement.Parse(doc)
	if err != nil {
		return Agreement{}, err
	}
	var errs agreement.Errors
	var ae agreement.Errors
	if err := agreement.Verify(a); err != nil {
		if errors.As(err, &ae) {
			errs = append(errs, ae...)
		} else {
			return Agreement{}, err
		}
	}
	lo, err := agreement.CheckBaseline(a, base)
	if err != nil {
		if errors.As(err, &ae) {
			errs = append(errs, ae...)
		} else {
			return Agreement{}, err
		}
	}
	if len(errs) > 0 {
		return Agreement{}, errs
	}
	return Agreement{Agreement: a, Digest: agreement.Digest(a), Loosenings: lo}, nil
}

// LoadSettings reads <home>/policy.yaml, or the baseline defaults. The
// home state and location default to embassy.yaml's.
func LoadSettings(h *home.Home, base *agreement.Baseline) (policy.Settings, error) {
	s, err := readSettings(h, base)
	if s.HomeState == "" {
		s.HomeState = h.Config.HomeState
	}
	if s.HomeLocation == "" {
		s.HomeLocation = h.Config.HomeLocation
	}
	return s, err
}

func readSettings(h *home.Home, base *agreement.Baseline) (policy.Settings, error) {
	f, err := os.Open(filepath.Join(h.Dir, policy.SettingsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return policy.DefaultSettings(base), nil
	}
	if err != nil {
		return policy.Settings{}, err
	}
	defer f.Close()
	s, err := policy.ParseSettings(f, base)
	if err != nil {
		return s, hint.Wrap(fmt.Errorf("%s: %w", f.Name(), err), "fix the policy settings (see docs/POLICY.md)")
	}
	return s, nil
}

// LoadPolicy builds the decision engine of a home from its settings and
// installed agreements.
func LoadPolicy(h *home.Home) (*policy.Engine, error) {
	base := agreement.DefaultBaseline()
	s, err := LoadSettings(h, base)
	if err != nil {
		return nil, err
	}
	ias, err := LoadAgreements(h, base)
	if err != nil {
		return nil, err
	}
	ags := make([]*agreement.Agreement, len(ias))
	for i := range ias {
		ags[i] = ias[i].Agreement
	}
	return policy.New(s, base, ags)
}

// DisclosureDelayTerm is the agreement term that sets how long after an
// access its disclosure may come.
const DisclosureDelayTerm = "operations.disclosure-delay-hours"

// DisclosureDeadlines returns each site's disclosure deadline: the hours
// the installed agreement the site is hosted under sets (or the
// baseline's, if the agreement leaves it out), else fallback for a site
// with no installed agreement or not in the registry.
func DisclosureDeadlines(h *home.Home, fallback time.Duration) (func(site string) time.Duration, error) {
	base := agreement.DefaultBaseline()
	ias, err := LoadAgreements(h, base)
	if err != nil {
		return nil, err
	}
	byID := map[string]*agreement.Agreement{}
	for _, ia := range ias {
		byID[ia.ID] = ia.Agreement
	}
	deadline := map[string]time.Duration{}
	for _, sc := range h.Config.Sites {
		if a := byID[sc.Agreement]; a != nil {
			if hours := agreement.Resolve(a, base)[DisclosureDelayTerm].Value.Int(); hours > 0 {
				deadline[sc.Name] = time.Duration(hours) * time.Hour
			}
		}
	}
	return func(site string) time.Duration {
		if d, ok := deadline[site]; ok {
			return d
		}
		return fallback
	}, nil
}
