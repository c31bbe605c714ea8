package compute

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
)

// Attested is the outcome of verifying a site's GPU evidence.
type Attested struct {
	Devices  int      `json:"devices"`           // distinct GPUs whose evidence verifies
	Refusals []string `json:"refused,omitempty"` // why the others did not
}

// VerifyGPUs verifies each GPU evidence envelope against the home's nonce
// at now and counts the distinct devices (by their device certificate)
// whose evidence verifies. The same device's evidence presented twice
// counts once; evidence bound to another nonce (replayed, recorded)
// counts not at all.
func VerifyGPUs(evs [][]byte, nonce []byte, now time.Time) Attested {
	var out Attested
	var seen []string
	for i, raw := range evs {
		ev, err := attest.ParseEnvelope(raw)
		if err == nil && ev.TEE != attest.NVIDIA {
			err = fmt.Errorf("evidence of %s, not an NVIDIA GPU", ev.TEE)
		}
		if err == nil {
			_, err = attest.Verify(ev, attest.Options{Nonce: nonce, Now: now})
		}
		if err != nil {
			out.Refusals = append(out.Refusals, fmt.Sprintf("gpu%d: %v", i, err))
			continue
		}
		id := deviceID(ev.Certs)
		if slices.Contains(seen, id) {
			out.Refusals = append(out.Refusals, fmt.Sprintf("gpu%d: the same device as an earlier report (counted once)", i))
			continue
		}
		seen = append(seen, id)
		out.Devices++
	}
	return out
}

// deviceID names a device by the hash of its leaf certificate (the first
// PEM block of its chain, which the verifier checked signs the report).
func deviceID(chain []byte) string {
	b, _ := pem.Decode(chain)
	if b == nil {
		s := sha256.Sum256(chain)
		return hex.EncodeToString(s[:])
	}
	s := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(s[:])
}

// Capacity is what the home trusts a site has: GPUs by model, CPU cores
// and memory.
type Capacity struct {
	GPUs      map[string]int `json:"gpus,omitempty"`
	CPUCores  int            `json:"cpu_cores"`
	MemoryGiB int            `json:"memory_gib"`
	// AttestedGPUs is the part of GPUs backed by verified evidence, by
	// model (reservations with attested: true count only these).
	AttestedGPUs map[string]int `json:"attested_gpus,omitempty"`
}

// Trusted is a report weighed: the capacity the home counts and the
// over-reports it caught.
type Trusted struct {
	Capacity   Capacity `json:"capacity"`
	Attested   Attested `json:"attested"`
	OverReport []string `json:"over_reported,omitempty"`
}

// Trust weighs a verified report: declared GPUs are capped by the devices
// the driver lists and, when the site presents evidence, by the devices
// whose evidence verifies; declared CPU and memory are capped by what was
// measured. Every cap that bites is an over-report.
func Trust(r *Report, att Attested) Trusted {
	t := Trusted{Attested: att, Capacity: Capacity{GPUs: map[string]int{}, AttestedGPUs: map[string]int{}}}
	d, m := r.Declared, r.Measured
	declared := 0
	for _, g := range d.GPUs {
		declared += g.Count
	}
	limit := declared
	if m.GPUSource == "nvml" && m.GPUs < limit {
		t.OverReport = append(t.OverReport, fmt.Sprintf("declares %d GPUs, the driver lists %d", declared, m.GPUs))
		limit = m.GPUs
	}
	if len(r.Evidence) > 0 && att.Devices < limit {
		t.OverReport = append(t.OverReport, fmt.Sprintf("declares %d GPUs, evidence verifies for %d", declared, att.Devices))
		limit = att.Devices
	}
	// Spread the trusted count over the declared models in order; the
	// attested count likewise.
	left, attLeft := limit, min(att.Devices, limit)
	for _, g := range d.GPUs {
		n := min(g.Count, left)
		t.Capacity.GPUs[g.Model] = n
		left -= n
		a := min(g.Count, attLeft)
		t.Capacity.AttestedGPUs[g.Model] = a
		attLeft -= a
	}
	t.Capacity.CPUCores = d.CPUCores
	if m.CPUCores > 0 && d.CPUCores > m.CPUCores {
		t.OverReport = append(t.OverReport, fmt.Sprintf("declares %d CPU cores, the machine has %d", d.CPUCores, m.CPUCores))
		t.Capacity.CPUCores = m.CPUCores
	}
	t.Capacity.MemoryGiB = d.MemoryGiB
	// The kernel reports a little less memory than is installed.
	if m.MemoryGiB > 0 && d.MemoryGiB > m.MemoryGiB+max(1, m.MemoryGiB/20) {
		t.OverReport = append(t.OverReport, fmt.Sprintf("declares %d GiB of memory, the machine has %d", d.MemoryGiB, m.MemoryGiB))
		t.Capacity.MemoryGiB = m.MemoryGiB
	}
	return t
}
