package compute

import (
	"bytes"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// HostConfig is a host site's capacity file (embassyd --capacity FILE):
// what the host declares for the sending state's use, where its GPU
// evidence comes from, and the workloads it runs on that capacity.
type HostConfig struct {
	GPUs      []GPUs `yaml:"gpus"`
	CPUCores  int    `yaml:"cpu-cores"`
	MemoryGiB int    `yaml:"memory-gib"`
	// GPUSource is nvml (the driver: device count and fresh evidence per
	// challenge), recorded (replay the files of GPUEvidence: for tests and
	// machines whose GPUs are attested elsewhere; never fresh) or none.
	GPUSource   string             `yaml:"gpu-source"`
	GPUEvidence []RecordedEvidence `yaml:"gpu-evidence"`
	Workloads   []HostWorkload     `yaml:"workloads"`
}

// RecordedEvidence is one GPU's recorded SPDM report (hex text) and its
// PEM certificate chain, as files.
type RecordedEvidence struct {
	Report string `yaml:"report"`
	Chain  string `yaml:"chain"`
}

// HostWorkload is a running workload as the host's file states it.
type HostWorkload struct {
	Name        string `yaml:"name"`
	Owner       string `yaml:"owner"`
	Reservation string `yaml:"reservation"`
	Priority    string `yaml:"priority"`
	Accelerator string `yaml:"accelerator"`
	GPUs        int    `yaml:"gpus"`
	CPUCores    int    `yaml:"cpu-cores"`
	MemoryGiB   int    `yaml:"memory-gib"`
}

// ParseHostConfig reads a capacity file; the report built from it is
// checked with Report.Validate before it is served.
func ParseHostConfig(b []byte) (*HostConfig, error) {
	var c HostConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("capacity file: %w", err)
	}
	if c.GPUSource == "" {
		c.GPUSource = "none"
		if len(c.GPUEvidence) > 0 {
			c.GPUSource = "recorded"
		}
	}
	if !slices.Contains([]string{"nvml", "recorded", "none"}, c.GPUSource) {
		return nil, fmt.Errorf("capacity file: gpu-source %q: use nvml, recorded or none", c.GPUSource)
	}
	if c.GPUSource == "recorded" && len(c.GPUEvidence) == 0 {
		return nil, fmt.Errorf("capacity file: gpu-source recorded needs gpu-evidence (report and chain files)")
	}
	return &c, nil
}

// Report is the report the host answers nonce with, before measurement
// and evidence are filled in.
func (c *HostConfig) Report(site string, nonce string) *Report {
	r := &Report{Format: Format, Site: site, Nonce: nonce,
		Declared: Declared{GPUs: c.GPUs, CPUCores: c.CPUCores, MemoryGiB: c.MemoryGiB},
		Measured: Measured{GPUSource: c.GPUSource}}
	for _, w := range c.Workloads {
		p := w.Priority
		if p == "" {
			p = PriorityBestEffort
			if w.Owner == OwnerSending {
				p = PriorityNormal
			}
		}
		r.Workloads = append(r.Workloads, Workload{Name: w.Name, Owner: w.Owner, Reservation: w.Reservation, Priority: p,
			Accelerator: w.Accelerator, GPUs: w.GPUs, CPUCores: w.CPUCores, MemoryGiB: w.MemoryGiB})
	}
	return r
}
