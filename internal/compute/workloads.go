package compute

import (
	"bytes"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/digital-embassy/embassy/internal/agreement"
)

// Declared workloads of the sending state, with their jurisdiction tags
// (framework requirement 4): the home's <home>/workloads.yaml.
type DeclaredWorkload struct {
	Name        string `yaml:"name" json:"name"`
	Site        string `yaml:"site" json:"site"`                                   // where it is placed
	Reservation string `yaml:"reservation,omitempty" json:"reservation,omitempty"` // the reservation it runs under
	// Class is the classification of the data it processes (default
	// public): placement obeys the class's residency rules.
	Class string `yaml:"class,omitempty" json:"class,omitempty"`
	// GoverningLaw is the state whose law governs the workload and what it
	// processes (ISO 3166-1 alpha-2); Jurisdictions are where it may run.
	GoverningLaw  string   `yaml:"governing-law" json:"governing_law"`
	Jurisdictions []string `yaml:"jurisdictions" json:"jurisdictions"`
}

// WorkloadsFile is the declared workloads document.
type WorkloadsFile struct {
	Workloads []DeclaredWorkload `yaml:"workloads"`
}

// ParseWorkloads reads <home>/workloads.yaml: every workload names its
// site, governing law and jurisdictions.
func ParseWorkloads(b []byte) ([]DeclaredWorkload, error) {
	var f WorkloadsFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("workloads.yaml: %w", err)
	}
	var names []string
	for i, w := range f.Workloads {
		at := fmt.Sprintf("workloads.yaml: workload %d (%s)", i+1, w.Name)
		switch {
		case !nameRE().MatchString(w.Name) || slices.Contains(names, w.Name):
			return nil, fmt.Errorf("%s: a name of letters, digits, '.', '_' or '-', once", at)
		case !nameRE().MatchString(w.Site):
			return nil, fmt.Errorf("%s: site %q", at, w.Site)
		case w.GoverningLaw == "" || len(w.Jurisdictions) == 0:
			return nil, fmt.Errorf("%s: every workload is tagged with its governing-law and jurisdictions", at)
		}
		if err := agreement.ValidState(w.GoverningLaw); err != nil {
			return nil, fmt.Errorf("%s: governing-law: %w", at, err)
		}
		for _, j := range w.Jurisdictions {
			if err := agreement.ValidState(j); err != nil {
				return nil, fmt.Errorf("%s: jurisdictions: %w", at, err)
			}
		}
		if f.Workloads[i].Class == "" {
			f.Workloads[i].Class = "public"
		}
		names = append(names, w.Name)
	}
	return f.Workloads, nil
}

// PolicyName is the name a workload is decided under by the policy: its
// tags are presented to the engine as those of a dataset of this name.
func (w DeclaredWorkload) PolicyName() string { return "workload:" + w.Name }
