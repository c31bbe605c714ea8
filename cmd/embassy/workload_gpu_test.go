package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWorkloadRunGPUWithoutDriver runs the real binary on this GPU-less
// machine (no libnvidia-ml.so): --gpu nvidia exits 1 naming the library
// and --gpu none before contacting anything; --gpu auto goes on with CPU
// evidence only, saying so (here it then stops at the missing CA file, exit
// 2, which shows it went past the GPU step); a bad --gpu value exits 2.
func TestWorkloadRunGPUWithoutDriver(t *testing.T) {
	dir := t.TempDir()
	run := func(gpu string) (string, int) {
		c := exec.Command(bin, "--progress", "never", "workload", "run", "--broker", "https://127.0.0.1:9", "--dataset", "weights",
			"--site", filepath.Join(dir, "site"), "--ca", filepath.Join(dir, "missing-ca.crt"), "--tee", "tpm-sim", "--gpu", gpu, "--", "true")
		c.Env = append(c.Environ(), "EMBASSY_HOME="+filepath.Join(dir, "home"))
		var e bytes.Buffer
		c.Stderr = &e
		err := c.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return e.String(), c.ProcessState.ExitCode()
	}
	out, code := run("nvidia")
	wantRun(t, "--gpu nvidia without a driver", runResult{code, "", out}, 1, nil, lines{
		"embassy: error: --gpu nvidia: the NVIDIA driver library libnvidia-ml.so.1 is not available",
		"embassy: hint: install the NVIDIA driver on a GPU machine, or run with --gpu none (CPU evidence only)",
	})
	out, code = run("auto")
	wantRun(t, "--gpu auto without a driver", runResult{code, "", out}.masked(dir, "DIR"), 2, nil, lines{
		"note: no GPU evidence (the NVIDIA driver library libnvidia-ml.so.1 is not available); sending CPU evidence only",
		"embassy: error: open DIR/missing-ca.crt: no such file or directory",
		"embassy: hint: see 'embassy help' or add --help to the command",
	})
	out, code = run("amd")
	wantRun(t, "--gpu amd", runResult{code, "", out}, 2, nil, lines{
		`embassy: error: --gpu "amd": use auto, nvidia or none`,
		"embassy: hint: see 'embassy help' or add --help to the command",
	})
}
