package cli

import (
	"fmt"

	"github.com/digital-embassy/embassy/internal/attest/gpu"
	"github.com/digital-embassy/embassy/internal/hint"
)

// gpuLibrary is the NVML implementation 'workload run' uses (tests may
// replace it).
var gpuLibrary = gpu.Real

// openGPUs opens the GPU evidence collector for --gpu mode: nil for none,
// or for auto when there is no attestable GPU (with a note on stderr).
func openGPUs(e *env, mode string) (*gpu.Collector, error) {
	switch mode {
	case "none":
		return nil, nil
	case "auto", "nvidia":
	default:
		return nil, usagef("--gpu %q: use auto, nvidia or none", mode)
	}
	c, err := gpu.Open(gpuLibrary())
	if err == nil {
		e.log.InfoContext(e.ctx, "GPU evidence", "gpus", c.Count())
		return c, nil
	}
	if mode == "nvidia" {
		return nil, hint.WithCode(fmt.Errorf("--gpu nvidia: %w", err), hint.CodeError)
	}
	if !e.quiet {
		fmt.Fprintf(e.stderr, "note: no GPU evidence (%v); sending CPU evidence only\n", err)
	}
	return nil, nil
}
