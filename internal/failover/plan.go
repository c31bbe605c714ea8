// Package failover rebuilds a home's critical services from its sites and
// k custodian identities alone: it recovers the root key, restores the
// plan's datasets into a scratch folder and starts the registry lookup
// service on them. Drills (internal/drill) and crisis operation
// (internal/operate, cmd operate) share it.
package failover

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/digital-embassy/embassy/internal/registry"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Plan is a continuity plan (YAML): where the vault is, who holds the keys,
// what must come back and how fast.
type Plan struct {
	Name string `yaml:"name"`
	// Home is the home fingerprint ('embassy key status'): a site whose
	// vault presents another is refused as forged; required.
	Home       string        `yaml:"home,omitempty"`
	Sites      []PlanSite    `yaml:"sites"`
	Custodians []string      `yaml:"custodians,omitempty"` // identity files; --identity adds more
	RTO        time.Duration `yaml:"rto"`
	Datasets   []PlanDataset `yaml:"datasets"`
	Service    ServiceSpec   `yaml:"service"`
	Probes     []Probe       `yaml:"probes,omitempty"`
	DrillKey   string        `yaml:"drill-key,omitempty"` // file with a base64 Ed25519 seed; default: derived from the root
	Scratch    string        `yaml:"scratch,omitempty"`
	// Log, if set, is a copy of the home's transparency log and the policy
	// to check it with: a site showing less than its witnesses cosigned is
	// skipped as stale.
	Log *PlanLog `yaml:"log,omitempty"`
	// Policy is the home's policy.yaml, for a rebuild with no home on the
	// machine (a home's own policy is used when there is one).
	Policy string `yaml:"policy,omitempty"`
}

// PlanLog locates a copy of the home's log.
type PlanLog struct {
	Dir    string `yaml:"dir"`    // a copy of <home>/log (its tiles/)
	Policy string `yaml:"policy"` // the log policy: log key, witnesses, quorum
}

// PlanSite is a site to rebuild from.
type PlanSite struct {
	Name         string `yaml:"name"`
	URL          string `yaml:"url"`
	Jurisdiction string `yaml:"jurisdiction,omitempty"`
}

// PlanDataset is a critical dataset and its recovery point objective.
type PlanDataset struct {
	Name string        `yaml:"name"`
	RPO  time.Duration `yaml:"rpo"`
}

// ServiceSpec says which restored files the lookup service serves.
type ServiceSpec struct {
	Population *FileRef `yaml:"population,omitempty"`
	Land       *FileRef `yaml:"land,omitempty"`
}

// FileRef is a file inside a dataset's latest snapshot.
type FileRef struct {
	Dataset string `yaml:"dataset"`
	Path    string `yaml:"path"`
}

// Probe is a health probe: a lookup that must answer 200.
type Probe struct {
	Register string `yaml:"register"` // population or land
	Key      string `yaml:"key"`
}

// LoadPlan reads a plan; relative file paths are resolved against its folder.
func LoadPlan(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParsePlan(f, filepath.Dir(path))
}

// ParsePlan reads a plan strictly and validates it.
func ParsePlan(r io.Reader, dir string) (*Plan, error) {
	var p Plan
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("plan: %w", err)
	}
	abs := func(s string) string {
		if s == "" || filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(dir, s)
	}
	for i := range p.Custodians {
		p.Custodians[i] = abs(p.Custodians[i])
	}
	p.DrillKey, p.Scratch, p.Policy = abs(p.DrillKey), abs(p.Scratch), abs(p.Policy)
	if p.Log != nil {
		p.Log.Dir, p.Log.Policy = abs(p.Log.Dir), abs(p.Log.Policy)
	}
	for i := range p.Sites {
		if u := p.Sites[i].URL; u != "" && !hasScheme(u) {
			p.Sites[i].URL = abs(u)
		}
		if p.Sites[i].Jurisdiction == "" {
			p.Sites[i].Jurisdiction = "ZZ"
		}
	}
	return &p, p.Validate()
}

func hasScheme(u string) bool {
	for i := 0; i < len(u); i++ {
		if u[i] == ':' {
			return i > 1 && i+2 < len(u) && u[i+1:i+3] == "//"
		}
		if u[i] == '/' {
			return false
		}
	}
	return false
}

// Validate returns the first invalid field, by path.
func (p *Plan) Validate() error {
	if len(p.Sites) == 0 {
		return errors.New("plan sites: list at least one site")
	}
	for i, s := range p.Sites {
		if s.Name == "" || s.URL == "" {
			return fmt.Errorf("plan sites[%d]: give name and url", i)
		}
	}
	if len(p.Datasets) == 0 {
		return errors.New("plan datasets: list the critical datasets")
	}
	names := map[string]bool{}
	for i, d := range p.Datasets {
		if err := repo.ValidDatasetName(d.Name); err != nil {
			return fmt.Errorf("plan datasets[%d].name: %w", i, err)
		}
		if d.RPO <= 0 {
			return fmt.Errorf("plan datasets[%d].rpo: give the recovery point objective, e.g. 24h", i)
		}
		names[d.Name] = true
	}
	for reg, ref := range map[string]*FileRef{"population": p.Service.Population, "land": p.Service.Land} {
		if ref != nil && (!names[ref.Dataset] || ref.Path == "") {
			return fmt.Errorf("plan service.%s: dataset must be one of the plan's datasets, and path set", reg)
		}
	}
	for i, pr := range p.Probes {
		if pr.Register != registry.KindPopulation && pr.Register != registry.KindLand {
			return fmt.Errorf("plan probes[%d].register: %q, use population or land", i, pr.Register)
		}
	}
	if p.Log != nil && (p.Log.Dir == "" || p.Log.Policy == "") {
		return errors.New("plan log: give dir (a copy of the home's log folder) and policy (the log policy)")
	}
	if p.RTO < 0 {
		return errors.New("plan rto: must not be negative")
	}
	return nil
}
