// Package compute checks sovereign compute reservations (framework
// requirement 30): what each host site reports it has (declared capacity,
// what it measured, GPU attestation evidence, the workloads it runs), what
// of that the home can trust, whether the agreements' reservations fit in
// it, and, in a declared crisis, which lower-priority workloads must yield
// to crisis-priority reservations. Everything a site reports is written
// by the host and may lie: Decode bounds and checks it, VerifyGPUs counts
// only GPUs whose evidence verifies against the home's fresh nonce, and
// Trust caps declared capacity by what was measured and attested. The
// package is pure: no I/O, no clock.
package compute

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/strict"
)

// Format is the format of a site's capacity report (docs/COMPUTE.md).
const Format = "embassy-capacity/v1"

// NonceSize is the size of the home's challenge; GPU reports bind it.
const NonceSize = 32

// MaxReport bounds a capacity report on the wire.
const MaxReport = 4 << 20

// Owners of a running workload.
const (
	OwnerSending = "sending" // the sending state's, under one of its reservations
	OwnerHost    = "host"    // the host's own or another tenant's
)

// Priorities of running workloads, lowest first. A workload of the
// sending state has its reservation's priority; the host's are best-effort.
const (
	PriorityBestEffort = "best-effort"
	PriorityNormal     = "normal"
	PriorityCrisis     = "crisis"
)

func rank(p string) int {
	return slices.Index([]string{PriorityBestEffort, PriorityNormal, PriorityCrisis}, p)
}

// GPUs is a number of accelerators of one model.
type GPUs struct {
	Model string `json:"model"`
	Count int    `json:"count"`
}

// Declared is the capacity the host declares for the sending state's use.
type Declared struct {
	GPUs      []GPUs `json:"gpus,omitempty"`
	CPUCores  int    `json:"cpu_cores"`
	MemoryGiB int    `json:"memory_gib"`
}

// Measured is what the daemon measured on its machine (0: not measured).
type Measured struct {
	CPUCores  int    `json:"cpu_cores"`
	MemoryGiB int    `json:"memory_gib"`
	GPUs      int    `json:"gpus"`       // devices the driver lists
	GPUSource string `json:"gpu_source"` // "nvml", "recorded" or "none"
}

// Workload is one workload the site runs on the capacity it declares.
type Workload struct {
	Name        string `json:"name"`
	Owner       string `json:"owner"`                 // OwnerSending or OwnerHost
	Reservation string `json:"reservation,omitempty"` // sending-state workloads: the reservation it runs under
	Priority    string `json:"priority"`
	Accelerator string `json:"accelerator,omitempty"`
	GPUs        int    `json:"gpus,omitempty"`
	CPUCores    int    `json:"cpu_cores,omitempty"`
	MemoryGiB   int    `json:"memory_gib,omitempty"`
}

// Report is a site's capacity report, answering the home's nonce.
type Report struct {
	Format    string            `json:"format"`
	Site      string            `json:"site"`
	Nonce     string            `json:"nonce"` // hex of the home's challenge
	At        time.Time         `json:"at"`
	Declared  Declared          `json:"declared"`
	Measured  Measured          `json:"measured"`
	Evidence  []json.RawMessage `json:"gpu_evidence,omitempty"` // attest envelopes, one per GPU
	Workloads []Workload        `json:"workloads,omitempty"`
}

// Limits on what a report may hold.
const (
	maxModels    = 16
	maxGPUs      = 4096
	maxEvidence  = 64
	maxWorkloads = 1024
	maxQuantity  = 1_000_000
)

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// ErrReport wraps every reason a report is refused.
var ErrReport = errors.New("capacity report refused")

func refuse(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrReport, fmt.Sprintf(format, a...))
}

// Decode reads a report from site (the name the home registered and the
// site certificate carries) answering nonce. Unknown fields, a report for
// another site or nonce, and quantities out of range are refused.
func Decode(b []byte, site string, nonce []byte) (*Report, error) {
	if len(b) > MaxReport {
		return nil, refuse("%d bytes, at most %d", len(b), MaxReport)
	}
	var r Report
	if err := strict.JSON(b, &r); errors.Is(err, strict.ErrTrailing) {
		return nil, refuse("trailing data after the report")
	} else if err != nil {
		return nil, refuse("does not decode: %v", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Site != site {
		return nil, refuse("the report is for site %q, not %q", r.Site, site)
	}
	if r.Nonce != hex.EncodeToString(nonce) {
		return nil, refuse("the report answers another challenge (stale or replayed)")
	}
	return &r, nil
}

// Validate checks a report's shape and bounds.
func (r *Report) Validate() error {
	if r.Format != Format {
		return refuse("format %q, want %q", r.Format, Format)
	}
	if !nameRE().MatchString(r.Site) {
		return refuse("site name %q", r.Site)
	}
	if n, err := hex.DecodeString(r.Nonce); err != nil || len(n) != NonceSize {
		return refuse("nonce is not %d bytes of hex", NonceSize)
	}
	q := func(what string, n, limit int) error {
		if n < 0 || n > limit {
			return refuse("%s %d out of range 0-%d", what, n, limit)
		}
		return nil
	}
	d, m := r.Declared, r.Measured
	if len(d.GPUs) > maxModels {
		return refuse("%d GPU models, at most %d", len(d.GPUs), maxModels)
	}
	var models []string
	for _, g := range d.GPUs {
		if !nameRE().MatchString(g.Model) || slices.Contains(models, g.Model) {
			return refuse("GPU model %q missing, malformed or listed twice", g.Model)
		}
		models = append(models, g.Model)
		if err := q("declared GPUs of "+g.Model, g.Count, maxGPUs); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		what     string
		n, limit int
	}{{"declared CPU cores", d.CPUCores, maxQuantity}, {"declared memory GiB", d.MemoryGiB, maxQuantity},
		{"measured CPU cores", m.CPUCores, maxQuantity}, {"measured memory GiB", m.MemoryGiB, maxQuantity}, {"measured GPUs", m.GPUs, maxGPUs}} {
		if err := q(c.what, c.n, c.limit); err != nil {
			return err
		}
	}
	switch m.GPUSource {
	case "nvml", "recorded", "none", "":
	default:
		return refuse("measured GPU source %q: want nvml, recorded or none", m.GPUSource)
	}
	if len(r.Evidence) > maxEvidence {
		return refuse("%d GPU evidence envelopes, at most %d", len(r.Evidence), maxEvidence)
	}
	if len(r.Workloads) > maxWorkloads {
		return refuse("%d workloads, at most %d", len(r.Workloads), maxWorkloads)
	}
	var names []string
	for _, w := range r.Workloads {
		if !nameRE().MatchString(w.Name) || slices.Contains(names, w.Name) {
			return refuse("workload name %q missing, malformed or listed twice", w.Name)
		}
		names = append(names, w.Name)
		if w.Owner != OwnerSending && w.Owner != OwnerHost {
			return refuse("workload %s: owner %q, want sending or host", w.Name, w.Owner)
		}
		if rank(w.Priority) < 0 {
			return refuse("workload %s: priority %q, want best-effort, normal or crisis", w.Name, w.Priority)
		}
		if w.GPUs > 0 && !nameRE().MatchString(w.Accelerator) {
			return refuse("workload %s uses %d GPUs of no model", w.Name, w.GPUs)
		}
		if w.Reservation != "" && !nameRE().MatchString(w.Reservation) {
			return refuse("workload %s: reservation %q", w.Name, w.Reservation)
		}
		for _, c := range []struct {
			what string
			n    int
		}{{"GPUs", w.GPUs}, {"CPU cores", w.CPUCores}, {"memory GiB", w.MemoryGiB}} {
			if err := q("workload "+w.Name+" "+c.what, c.n, maxQuantity); err != nil {
				return err
			}
		}
	}
	return nil
}
