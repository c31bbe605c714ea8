package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
)

// --capacity is checked once at start (a mistake fails the daemon, with a
// usage error naming the file), then re-read on every challenge; the
// report carries the declared capacity, what this machine measures, the
// home's nonce and, with gpu-source recorded, one evidence envelope per
// recorded GPU.
func TestCapacityReporter(t *testing.T) {
	if r, err := capacityOf(Options{}, "lu"); r != nil || err != nil {
		t.Fatalf("no --capacity: %v, %v; want none", r, err)
	}
	dir := t.TempDir()
	if _, err := capacityOf(Options{Capacity: filepath.Join(dir, "absent.yaml")}, "lu"); hint.CodeOf(err) != hint.CodeUsage {
		t.Fatalf("missing file: %v, want a usage error", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("gpus: nine\n"), 0o644)
	if _, err := capacityOf(Options{Capacity: bad}, "lu"); hint.CodeOf(err) != hint.CodeUsage || !strings.Contains(err.Error(), bad) {
		t.Fatalf("bad file: %v, want a usage error naming it", err)
	}

	nv := filepath.Join("..", "attest", "testdata", "nvidia")
	rep, _ := filepath.Abs(filepath.Join(nv, "hopperAttestationReport.txt"))
	chain, _ := filepath.Abs(filepath.Join(nv, "hopper_cert_chain_case1.txt"))
	good := filepath.Join(dir, "capacity.yaml")
	os.WriteFile(good, []byte("gpus: [{model: H100, count: 1}]\ncpu-cores: 4\nmemory-gib: 1\ngpu-source: recorded\ngpu-evidence:\n"+
		"  - {report: "+rep+", chain: "+chain+"}\n"), 0o644)
	cr, err := capacityOf(Options{Capacity: good}, "lu")
	if err != nil || cr == nil {
		t.Fatalf("good file: %v", err)
	}
	nonce := []byte("0123456789abcdef0123456789abcdef")
	r, err := cr.Capacity(t.Context(), nonce)
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "lu" || r.Measured.CPUCores < 1 || r.Measured.GPUs != 1 || len(r.Evidence) != 1 || r.At.IsZero() {
		t.Fatalf("report %+v", r)
	}
	if m := memTotalGiB(); m < 0 {
		t.Fatalf("memory %d GiB", m)
	}
	// The file is re-read on each challenge: a broken edit fails the
	// answer, not the daemon.
	os.WriteFile(good, []byte("gpus: nine\n"), 0o644)
	if _, err := cr.Capacity(t.Context(), nonce); err == nil {
		t.Fatal("a broken capacity file answered a challenge")
	}
	// Recorded evidence that is gone is an error, not an empty report.
	os.WriteFile(good, []byte("gpu-source: recorded\ngpu-evidence:\n  - {report: "+filepath.Join(dir, "nope")+", chain: "+chain+"}\n"), 0o644)
	if _, err := cr.Capacity(t.Context(), nonce); err == nil {
		t.Fatal("missing recorded evidence answered a challenge")
	}
}
