package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// SettingsFile is the name of the policy settings file inside a home.
const SettingsFile = "policy.yaml"

// Settings are the home's policy settings (<home>/policy.yaml).
type Settings struct {
	HomeState          string      `yaml:"home-state,omitempty"`    // ISO 3166-1 alpha-2
	HomeLocation       string      `yaml:"home-location,omitempty"` // "lat,lon"
	RecoveryDistanceKm int         `yaml:"recovery-distance-km,omitempty"`
	RequireAgreement   bool        `yaml:"require-agreement,omitempty"` // sites without an agreement take no data
	Classes            []ClassRule `yaml:"classes,omitempty"`
	// Datasets tag named datasets (and so their keys) with attributes the
	// class label does not carry: personal data, governing law, the
	// jurisdictions they may be placed in.
	Datasets []DatasetTags `yaml:"datasets,omitempty"`
	// AutoDeny lists reason codes whose access requests are denied at
	// once, without waiting for the sending state (embassy access).
	AutoDeny []string `yaml:"auto-deny,omitempty"`
}

// DatasetTags are the tags of one dataset and of its keys.
type DatasetTags struct {
	Name          string   `yaml:"name"`
	Personal      bool     `yaml:"personal,omitempty"`      // holds personal data (minimisation, data.personal-data)
	GoverningLaw  string   `yaml:"governing-law,omitempty"` // ISO 3166-1 alpha-2 state whose law governs it
	Jurisdictions []string `yaml:"jurisdictions,omitempty"` // where it and its keys may be placed; empty: where its class allows
	// The hosted-dataset inventory (framework requirement 9): who owns the
	// registry, its recovery objectives, and the agreements it may be
	// hosted under. A dataset held at a site but not tagged here is
	// reported by 'embassy assess --requirements'.
	Owner      string   `yaml:"owner,omitempty"`
	RPO        string   `yaml:"rpo,omitempty"` // recovery point objective, a Go duration such as 24h
	RTO        string   `yaml:"rto,omitempty"` // recovery time objective
	Agreements []string `yaml:"agreements,omitempty"`
}

// Tags returns the tags of the named dataset (zero if untagged).
func (s Settings) Tags(name string) DatasetTags {
	for _, d := range s.Datasets {
		if d.Name == name {
			return d
		}
	}
	return DatasetTags{Name: name}
}

// ClassRule applies to every label at least as strict as Class.
type ClassRule struct {
	Class            string   `yaml:"class"`
	Jurisdictions    []string `yaml:"jurisdictions,omitempty"` // allowed; empty: any
	MinCopies        int      `yaml:"min-copies,omitempty"`
	MinJurisdictions int      `yaml:"min-jurisdictions,omitempty"`
	Erasure          string   `yaml:"erasure,omitempty"` // "k+m", e.g. "4+2"; empty: full copies
	KeyPolicy        string   `yaml:"key-policy,omitempty"`
	MinTier          int      `yaml:"min-tier,omitempty"`
	PrivateHub       bool     `yaml:"private-hub,omitempty"`
	RequireCopies    bool     `yaml:"require-copies,omitempty"` // refuse a write the allowed sites cannot give the minimums or erasure code
	// RequireOutsideWitness refuses a write while the log policy's quorum
	// can be met by the home's own witnesses alone.
	RequireOutsideWitness bool `yaml:"require-outside-witness,omitempty"`
	// RestoreWithinResidency refuses to restore from a site outside the
	// class's jurisdictions (rule residency-restore). Off by default: a
	// copy stored before the rules were tightened still brings the data
	// home, since restoring moves it back to the sending state.
	RestoreWithinResidency bool `yaml:"restore-within-residency,omitempty"`
}

// Key policies, from least to most strict.
var KeyPolicies = []string{"sending-only", "attested-release", "home-only"}

// DefaultSettings derives settings from the baseline: the recovery distance,
// critical data (availability 3) in two jurisdictions with two copies, and
// highly confidential data (C3) in private hubs with attested key release.
func DefaultSettings(base *agreement.Baseline) Settings {
	return Settings{
		RecoveryDistanceKm: base.Values["residency.recovery-distance-km"].Int(),
		Classes: []ClassRule{
			{Class: "C0-I0-A0", MinCopies: 1, KeyPolicy: "sending-only"},
			{Class: "C0-I0-A3", MinCopies: 2, MinJurisdictions: base.Values["residency.critical-min-jurisdictions"].Int()},
			{Class: "C3-I0-A0", KeyPolicy: "attested-release", PrivateHub: true},
		},
	}
}

// ParseSettings reads policy.yaml over the defaults. Unknown keys are errors.
func ParseSettings(r io.Reader, base *agreement.Baseline) (Settings, error) {
	s := DefaultSettings(base)
	var doc Settings
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return s, err
	}
	if doc.HomeState != "" {
		s.HomeState = doc.HomeState
	}
	if doc.HomeLocation != "" {
		s.HomeLocation = doc.HomeLocation
	}
	if doc.RecoveryDistanceKm != 0 {
		s.RecoveryDistanceKm = doc.RecoveryDistanceKm
	}
	s.RequireAgreement = doc.RequireAgreement
	if doc.Classes != nil {
		s.Classes = doc.Classes
	}
	s.Datasets = doc.Datasets
	s.AutoDeny = doc.AutoDeny
	return s, s.Validate(base)
}

// Validate checks the settings, naming the field; a recovery distance
// below the baseline's is refused (settings may only tighten it).
func (s *Settings) Validate(base *agreement.Baseline) error {
	if s.HomeState != "" {
		if err := agreement.ValidState(s.HomeState); err != nil {
			return fmt.Errorf("home-state: %w", err)
		}
	}
	if s.HomeLocation != "" {
		if _, _, err := ParseLatLon(s.HomeLocation); err != nil {
			return fmt.Errorf("home-location: %w", err)
		}
	}
	if min := base.Values["residency.recovery-distance-km"].Int(); s.RecoveryDistanceKm < min {
		return fmt.Errorf("recovery-distance-km: %d loosens the baseline (%d km): use %d or more", s.RecoveryDistanceKm, min, min)
	}
	for i, r := range s.AutoDeny {
		if tlog.ReasonCodes[r] == "" {
			return fmt.Errorf("auto-deny[%d]: %q is not a reason code", i, r)
		}
	}
	seen := map[string]bool{}
	for i, d := range s.Datasets {
		p := fmt.Sprintf("datasets[%d]", i)
		if d.Name == "" {
			return fmt.Errorf("%s.name: a dataset tag needs the dataset's name", p)
		}
		if seen[d.Name] {
			return fmt.Errorf("%s.name: dataset %s is tagged twice: merge its entries", p, d.Name)
		}
		seen[d.Name] = true
		if d.GoverningLaw != "" {
			if err := agreement.ValidState(d.GoverningLaw); err != nil {
				return fmt.Errorf("%s.governing-law: %w", p, err)
			}
		}
		for _, j := range d.Jurisdictions {
			if err := agreement.ValidState(j); err != nil {
				return fmt.Errorf("%s.jurisdictions: %w", p, err)
			}
		}
		for _, f := range []struct{ name, v string }{{"rpo", d.RPO}, {"rto", d.RTO}} {
			if f.v == "" {
				continue
			}
			if dur, err := time.ParseDuration(f.v); err != nil || dur <= 0 {
				return fmt.Errorf("%s.%s: %q is not a duration such as 24h or 90m", p, f.name, f.v)
			}
		}
	}
	for i, c := range s.Classes {
		p := fmt.Sprintf("classes[%d]", i)
		if _, err := class.Parse(c.Class); err != nil {
			return fmt.Errorf("%s.class: %w", p, err)
		}
		for _, j := range c.Jurisdictions {
			if err := agreement.ValidState(j); err != nil {
				return fmt.Errorf("%s.jurisdictions: %w", p, err)
			}
		}
		if c.MinCopies < 0 || c.MinJurisdictions < 0 || c.MinTier < 0 || c.MinTier > 4 {
			return fmt.Errorf("%s: min-copies, min-jurisdictions and min-tier (0-4) cannot be negative", p)
		}
		if c.Erasure != "" {
			if _, _, err := ParseErasure(c.Erasure); err != nil {
				return fmt.Errorf("%s.erasure: %w", p, err)
			}
		}
		if c.KeyPolicy != "" && !slices.Contains(KeyPolicies, c.KeyPolicy) {
			return fmt.Errorf("%s.key-policy: %q is not one of %s", p, c.KeyPolicy, strings.Join(KeyPolicies, ", "))
		}
		if len(c.Jurisdictions) > 0 && c.MinJurisdictions > len(c.Jurisdictions) {
			return fmt.Errorf("%s: min-jurisdictions %d cannot be met by %d allowed jurisdictions", p, c.MinJurisdictions, len(c.Jurisdictions))
		}
	}
	return nil
}

// Marshal renders the settings as policy.yaml.
func (s Settings) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# Digital Embassy policy settings. See docs/POLICY.md.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(s)
	return b.Bytes()
}

// ClassPolicy is what a label requires: the merge of every matching rule.
type ClassPolicy struct {
	Label            class.Label `json:"-"`
	Jurisdictions    []string    `json:"jurisdictions,omitempty"` // nil: any
	MinCopies        int         `json:"min_copies"`
	MinJurisdictions int         `json:"min_jurisdictions"`
	Erasure          string      `json:"erasure,omitempty"`
	KeyPolicy        string      `json:"key_policy"`
	MinTier          int         `json:"min_tier,omitempty"`
	PrivateHub       bool        `json:"private_hub,omitempty"`
	RequireCopies    bool        `json:"require_copies,omitempty"`
	// RequireOutsideWitness: any matching rule sets it.
	RequireOutsideWitness bool `json:"require_outside_witness,omitempty"`
	// RestoreWithinResidency: any matching rule sets it.
	RestoreWithinResidency bool `json:"restore_within_residency,omitempty"`
}

// For merges the rules that apply to l: allowed jurisdictions are
// intersected, minimums take the largest, the strictest key policy wins.
func (s *Settings) For(l class.Label) ClassPolicy {
	p := ClassPolicy{Label: l, KeyPolicy: KeyPolicies[0], MinCopies: 1}
	for _, r := range s.Classes {
		rl, _ := class.Parse(r.Class)
		if !l.AtLeast(rl) {
			continue
		}
		if len(r.Jurisdictions) > 0 {
			if p.Jurisdictions == nil {
				p.Jurisdictions = slices.Clone(r.Jurisdictions)
			} else {
				p.Jurisdictions = slices.DeleteFunc(p.Jurisdictions, func(j string) bool { return !slices.Contains(r.Jurisdictions, j) })
				if p.Jurisdictions == nil {
					p.Jurisdictions = []string{}
				}
			}
		}
		p.MinCopies = max(p.MinCopies, r.MinCopies)
		p.MinJurisdictions = max(p.MinJurisdictions, r.MinJurisdictions)
		p.MinTier = max(p.MinTier, r.MinTier)
		p.PrivateHub = p.PrivateHub || r.PrivateHub
		p.RequireCopies = p.RequireCopies || r.RequireCopies
		p.RequireOutsideWitness = p.RequireOutsideWitness || r.RequireOutsideWitness
		p.RestoreWithinResidency = p.RestoreWithinResidency || r.RestoreWithinResidency
		if r.Erasure != "" {
			p.Erasure = r.Erasure
		}
		if slices.Index(KeyPolicies, r.KeyPolicy) > slices.Index(KeyPolicies, p.KeyPolicy) {
			p.KeyPolicy = r.KeyPolicy
		}
	}
	return p
}

// ParseErasure reads "k+m" (k data shards, m parity shards).
func ParseErasure(s string) (k, m int, err error) {
	a, b, ok := strings.Cut(s, "+")
	k, err1 := strconv.Atoi(a)
	m, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || k < 1 || m < 1 || k+m > 256 {
		return 0, 0, fmt.Errorf("%q is not an erasure code k+m such as 4+2", s)
	}
	return k, m, nil
}

// ParseLatLon reads "lat,lon" in degrees.
func ParseLatLon(s string) (lat, lon float64, err error) {
	a, b, ok := strings.Cut(s, ",")
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if !ok || err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return 0, 0, fmt.Errorf("%q is not a location LAT,LON such as 49.61,6.13", s)
	}
	return lat, lon, nil
}

// DistanceKm is the great-circle distance between two "lat,lon" locations,
// or -1 if either is unknown or invalid.
func DistanceKm(a, b string) float64 {
	lat1, lon1, err1 := ParseLatLon(a)
	lat2, lon2, err2 := ParseLatLon(b)
	if err1 != nil || err2 != nil {
		return -1
	}
	const r = 6371.0088
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}

func mustLabel(s string) class.Label { l, _ := class.Parse(s); return l }
