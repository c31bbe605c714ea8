package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
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
	if code != 1 || !strings.Contains(out, "libnvidia-ml.so.1") || !strings.Contains(out, "--gpu none") {
		t.Fatalf("--gpu nvidia without a driver: exit %d\n%s", code, out)
	}
	out, code = run("auto")
	if code != 2 || !strings.Contains(out, "note: no GPU evidence") || !strings.Contains(out, "missing-ca.crt") {
		t.Fatalf("--gpu auto without a driver: exit %d\n%s", code, out)
	}
	out, code = run("amd")
	if code != 2 || !strings.Contains(out, `--gpu "amd"`) {
		t.Fatalf("--gpu amd: exit %d\n%s", code, out)
	}
}
