package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBrokerWorkedExample runs examples/broker end to end with the real
// binary: model weights stored encrypted in the vault; a key broker over
// TLS from the home PKI; an inference step that reads the weights only
// inside an attested environment (the TPM simulator stands in for the
// hardware); refused after one PCR changes, after crypto-shredding and
// after a revocation.
func TestBrokerWorkedExample(t *testing.T) {
	f := newFixture(t)
	model := make([]byte, 1<<20)
	rand.Read(model)
	infer := brokerHomeFiles(t, f, map[string][]byte{"model.bin": model, "config.json": []byte(`{"layers":2}`)})
	// The broker, on an ephemeral port; its first line names the address.
	srv, url := startBroker(t, f)

	run := func(measured string) (string, string, int) {
		c := f.cmd("workload", "run", "--broker", url, "--dataset", "weights", "--site", filepath.Join(f.dir, "site-a"),
			"--ca", filepath.Join(f.home, "pki", "ca.crt"), "--tee", "tpm-sim", "--measure", "9="+measured, "--", "sh", infer)
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return o.String(), e.String(), c.ProcessState.ExitCode()
	}

	// Attested with the approved image: the inference reads the weights.
	o, e, code := run(infer)
	sum := sha256.Sum256(model)
	wantRun(t, "approved workload", runResult{code, o, e}, 0, lines{
		rx(`weights-dir /dev/shm/embassy-workload-\d+/data`),
		"weights-sha256 " + hex.EncodeToString(sum[:]),
		rx(`prediction [0-9a-f]{16}`),
	}, lines{"note: no GPU evidence (the NVIDIA driver library libnvidia-ml.so.1 is not available); sending CPU evidence only"})
	dir := strings.TrimPrefix(strings.Split(o, "\n")[0], "weights-dir ")
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("plaintext folder %s still exists after the run (%v)", dir, err)
	}

	// One PCR changes (an unapproved image): refused with the reason, nothing decrypted.
	tampered := filepath.Join(f.dir, "infer-v2.sh")
	os.WriteFile(tampered, []byte("#!/bin/sh\necho other image\n"), 0o755)
	o, e, code = run(tampered)
	wantRun(t, "changed PCR", runResult{code, o, e}, 3, nil, lines{"note: no GPU evidence (the NVIDIA driver library libnvidia-ml.so.1 is not available); sending CPU evidence only",
		rx(`embassy: error: the broker refused to release the key: policy: rule weights-inference: the measurements match none of the approved reference values inference-v1 \(pcr\.sha256\.9 is [0-9a-f]{16}…, inference-v1 wants [0-9a-f]{16}…\): an unapproved firmware or image; publish and approve its reference values, or restore the approved one`),
	})

	// Crypto-shredding the dataset: its keys are gone, nothing is released.
	f.run("key", "shred", "weights", "--yes")
	o, e, code = run(infer)
	wantRun(t, "shredded dataset", runResult{code, o, e}, 3, nil, lines{"note: no GPU evidence (the NVIDIA driver library libnvidia-ml.so.1 is not available); sending CPU evidence only",
		"embassy: error: the broker refused to release the key: no-dataset: dataset weights is unknown or shredded",
		"embassy: hint: check the dataset name with the home's operator; a shredded dataset's keys are gone for good",
	})

	// Revoking the workload stops the next release at once (no restart).
	f.run("broker", "revoke", "workload", "lu-gpu-1")
	o, e, code = run(infer)
	wantRun(t, "revoked workload", runResult{code, o, e}, 3, nil, lines{"note: no GPU evidence (the NVIDIA driver library libnvidia-ml.so.1 is not available); sending CPU evidence only",
		"embassy: error: the broker refused to release the key: revoked: the workload identity is revoked: lu-gpu-1",
	})

	// Stopping the broker publishes every entry it sequenced; the log then
	// holds one release and three refusals, with their reasons.
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	var rel, ref []struct {
		Dataset, Site, Reason string
		Details               map[string]string
	}
	json.Unmarshal([]byte(f.run("--json", "log", "--kind", "key.release")), &rel)
	json.Unmarshal([]byte(f.run("--json", "log", "--kind", "key.refuse")), &ref)
	if len(rel) != 1 || rel[0].Dataset != "weights" || rel[0].Site != "a" || rel[0].Details["workload"] != "lu-gpu-1" {
		t.Fatalf("releases logged: %+v", rel)
	}
	if len(ref) != 3 || ref[0].Reason != "policy" || ref[1].Reason != "no-dataset" || ref[2].Reason != "revoked" {
		t.Fatalf("refusals logged: %+v", ref)
	}
}
