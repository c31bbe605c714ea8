package daemon

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/attest/gpu"
	"github.com/digital-embassy/embassy/internal/compute"
)

// The nonce the recorded H100 report binds (internal/attest/testdata/nvidia).
const h100Nonce = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"

// fakeNVML is the driver library as the daemon sees it, replaying
// recorded evidence.
type fakeNVML struct {
	initErr   error
	devs      []gpu.Device
	shutdowns int
}

func (f *fakeNVML) Init() error                  { return f.initErr }
func (f *fakeNVML) Shutdown() error              { f.shutdowns++; return nil }
func (f *fakeNVML) CCState() (bool, bool, error) { return true, false, nil }
func (f *fakeNVML) DeviceCount() (int, error)    { return len(f.devs), nil }
func (f *fakeNVML) Device(i int) (gpu.Device, error) {
	return f.devs[i], nil
}

type fakeGPU struct {
	report, chain []byte
	reportErr     error
}

func (d *fakeGPU) UUID() (string, error) { return "GPU-recorded", nil }
func (d *fakeGPU) Arch() (string, error) { return "hopper", nil }
func (d *fakeGPU) AttestationReport([gpu.NonceSize]byte) ([]byte, error) {
	return d.report, d.reportErr
}
func (d *fakeGPU) CertChain() ([]byte, error) { return d.chain, nil }

// h100 returns the recorded H100 report (binary, as the driver gives it)
// and its chain, and the paths of the files they came from.
func h100(t *testing.T) (report, chain []byte, reportFile, chainFile string) {
	t.Helper()
	nv, err := filepath.Abs(filepath.Join("..", "attest", "testdata", "nvidia"))
	if err != nil {
		t.Fatal(err)
	}
	reportFile, chainFile = filepath.Join(nv, "hopperAttestationReport.txt"), filepath.Join(nv, "hopper_cert_chain_case1.txt")
	hexRep, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	report, err = hex.DecodeString(strings.TrimSpace(string(hexRep)))
	if err != nil {
		t.Fatal(err)
	}
	chain, err = os.ReadFile(chainFile)
	if err != nil {
		t.Fatal(err)
	}
	return report, chain, reportFile, chainFile
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestCoverCapacityNVML: with gpu-source nvml the report counts the GPUs
// the driver lists and carries one fresh evidence envelope per GPU,
// bound to the home's nonce; a machine without the driver library, or a
// GPU whose report fails, answers with an error naming the source, never
// with a report lacking evidence. The library is shut down each time.
func TestCoverCapacityNVML(t *testing.T) {
	report, chain, _, _ := h100(t)
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "capacity.yaml"), "gpus: [{model: H100, count: 1}]\ncpu-cores: 2\nmemory-gib: 1\ngpu-source: nvml\n")
	lib := &fakeNVML{devs: []gpu.Device{&fakeGPU{report: report, chain: chain}}}
	cr := &capacityReporter{site: "lu", file: file, nvml: func() gpu.NVML { return lib }}
	nonce, _ := hex.DecodeString(h100Nonce)

	r, err := cr.Capacity(t.Context(), nonce)
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "lu" || r.Nonce != h100Nonce || r.Measured.GPUSource != "nvml" || r.Measured.GPUs != 1 || len(r.Evidence) != 1 || lib.shutdowns != 1 {
		t.Fatalf("report %+v after %d shutdowns", r, lib.shutdowns)
	}
	var env attest.Envelope
	if err := json.Unmarshal(r.Evidence[0], &env); err != nil {
		t.Fatal(err)
	}
	if env.TEE != attest.NVIDIA || !bytes.Equal(env.Evidence, report) || !bytes.Equal(env.Certs, chain) {
		t.Fatalf("envelope %s %d evidence bytes, %d cert bytes; want the driver's report and chain", env.TEE, len(env.Evidence), len(env.Certs))
	}
	ev, err := attest.ParseEnvelope(r.Evidence[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(ev, attest.Options{Nonce: nonce}); err != nil {
		t.Fatalf("the envelope does not verify for the home's nonce: %v", err)
	}

	// A report that fails on the GPU fails the answer.
	lib.devs[0].(*fakeGPU).reportErr = errors.New("device busy")
	_, err = cr.Capacity(t.Context(), nonce)
	if want := "gpu0 (GPU-recorded): attestation report: device busy"; err == nil || err.Error() != want {
		t.Fatalf("failing GPU: %v, want %q", err, want)
	}
	if lib.shutdowns != 2 {
		t.Fatalf("the library was shut down %d times, want 2", lib.shutdowns)
	}

	// No driver library (a build without cgo, or a machine without GPUs).
	lib.initErr = gpu.ErrNoLibrary
	_, err = cr.Capacity(t.Context(), nonce)
	if want := "gpu-source nvml: " + gpu.ErrNoLibrary.Error(); err == nil || err.Error() != want || !errors.Is(err, gpu.ErrNoLibrary) {
		t.Fatalf("no library: %v, want %q", err, want)
	}
}

// TestCoverCapacityRecordedAndInvalid: recorded evidence may be hex text
// or raw bytes; a missing chain file, a capacity file removed after start
// and a report that does not validate (here: a nonce of the wrong size)
// each fail the answer with an error naming what is wrong.
func TestCoverCapacityRecordedAndInvalid(t *testing.T) {
	report, chain, _, chainFile := h100(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "report.bin")
	if err := os.WriteFile(raw, report, 0o644); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, filepath.Join(dir, "capacity.yaml"), "gpu-source: recorded\ngpu-evidence:\n  - {report: "+raw+", chain: "+chainFile+"}\n")
	cr, err := capacityOf(Options{Capacity: file}, "lu")
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := hex.DecodeString(h100Nonce)
	r, err := cr.Capacity(t.Context(), nonce)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Evidence) != 1 || r.Measured.GPUs != 1 {
		t.Fatalf("report %+v", r)
	}
	var env attest.Envelope
	if err := json.Unmarshal(r.Evidence[0], &env); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(env.Evidence, report) || !bytes.Equal(env.Certs, chain) {
		t.Fatal("raw recorded report not carried as is")
	}

	missing := filepath.Join(dir, "no-chain.pem")
	writeFile(t, file, "gpu-source: recorded\ngpu-evidence:\n  - {report: "+raw+", chain: "+missing+"}\n")
	if _, err := cr.Capacity(t.Context(), nonce); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing chain: %v, want not-exist naming %s", err, missing)
	}

	writeFile(t, file, "cpu-cores: 2\n")
	_, err = cr.Capacity(t.Context(), []byte("short"))
	if want := file + ": " + compute.ErrReport.Error() + ": nonce is not 32 bytes of hex"; err == nil || err.Error() != want {
		t.Fatalf("short nonce: %v, want %q", err, want)
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if _, err := cr.Capacity(t.Context(), nonce); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("capacity file removed: %v, want not-exist", err)
	}
}
