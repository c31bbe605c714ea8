package daemon

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/attest/gpu"
	"github.com/digital-embassy/embassy/internal/compute"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/server"
)

// capacityReporter builds the site's capacity report from its capacity
// file (re-read on every challenge, so the host can update the workloads
// it runs) and what it measures on this machine.
type capacityReporter struct {
	site string
	file string
	nvml func() gpu.NVML
}

func (c *capacityReporter) Capacity(ctx context.Context, nonce []byte) (*compute.Report, error) {
	b, err := os.ReadFile(c.file)
	if err != nil {
		return nil, err
	}
	hc, err := compute.ParseHostConfig(b)
	if err != nil {
		return nil, err
	}
	r := hc.Report(c.site, hex.EncodeToString(nonce))
	r.At = time.Now().UTC()
	r.Measured.CPUCores = runtime.NumCPU()
	r.Measured.MemoryGiB = memTotalGiB()
	switch hc.GPUSource {
	case "nvml":
		col, err := gpu.Open(c.nvml())
		if err != nil {
			return nil, fmt.Errorf("gpu-source nvml: %w", err)
		}
		defer col.Close()
		r.Measured.GPUs = col.Count()
		envs, err := col.Quote(nonce)
		if err != nil {
			return nil, err
		}
		for _, e := range envs {
			raw, err := json.Marshal(e)
			if err != nil {
				return nil, err
			}
			r.Evidence = append(r.Evidence, raw)
		}
	case "recorded":
		for _, ev := range hc.GPUEvidence {
			rep, err := os.ReadFile(ev.Report)
			if err != nil {
				return nil, err
			}
			raw, err := hex.DecodeString(strings.TrimSpace(string(rep)))
			if err != nil {
				raw = rep
			}
			chain, err := os.ReadFile(ev.Chain)
			if err != nil {
				return nil, err
			}
			env, err := json.Marshal(attest.Envelope{TEE: attest.NVIDIA, Evidence: raw, Certs: chain})
			if err != nil {
				return nil, err
			}
			r.Evidence = append(r.Evidence, env)
		}
		r.Measured.GPUs = len(hc.GPUEvidence)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.file, err)
	}
	return r, nil
}

// memTotalGiB is the machine's memory from /proc/meminfo (0 where there
// is none).
func memTotalGiB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return int(kb >> 20)
			}
		}
	}
	return 0
}

// capacityOf is the reporter of --capacity, or nil; the file is checked
// once at start so that a mistake fails the daemon, not the home's check.
func capacityOf(o Options, site string) (server.CapacityReporter, error) {
	if o.Capacity == "" {
		return nil, nil
	}
	b, err := os.ReadFile(o.Capacity)
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("--capacity: %w", err), hint.CodeUsage)
	}
	if _, err := compute.ParseHostConfig(b); err != nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("--capacity %s: %w", o.Capacity, err), "see docs/COMPUTE.md for the capacity file's fields"), hint.CodeUsage)
	}
	return &capacityReporter{site: site, file: o.Capacity, nvml: gpu.Real}, nil
}
