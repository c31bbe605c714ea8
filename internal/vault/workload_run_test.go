package vault

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
)

// The workload's attester: an unknown source or a bad --measure is a usage
// error; the simulator's identity is its seed's; reference values carry
// the measurements (a measured file changes its PCR) without the AK.
func TestWorkloadAttester(t *testing.T) {
	if _, err := WorkloadIdentity(WorkloadTEE{TEE: "sgx"}); hint.CodeOf(err) != hint.CodeUsage {
		t.Fatalf("unknown tee: %v", err)
	}
	if _, err := WorkloadIdentity(WorkloadTEE{TEE: "tpm-sim", SimSeed: 1, Measures: []string{"x=file"}}); hint.CodeOf(err) != hint.CodeUsage {
		t.Fatalf("bad measure: %v", err)
	}
	a, err := WorkloadIdentity(WorkloadTEE{TEE: "tpm-sim", SimSeed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b, err := WorkloadIdentity(WorkloadTEE{TEE: "tpm-sim", SimSeed: 7})
	if err != nil || a != b || a == "" {
		t.Fatalf("identity %q then %q (%v)", a, b, err)
	}
	file := filepath.Join(t.TempDir(), "runner.py")
	if err := os.WriteFile(file, []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	issued := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	plain, err := WorkloadRefs(WorkloadTEE{TEE: "tpm-sim", SimSeed: 7}, "inference-v1", "test", issued)
	if err != nil {
		t.Fatal(err)
	}
	measured, err := WorkloadRefs(WorkloadTEE{TEE: "tpm-sim", SimSeed: 7, Measures: []string{"9=" + file}}, "inference-v1", "test", issued)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Name != "inference-v1" || plain.TEE != "tpm-sim" || !plain.Issued.Equal(issued) {
		t.Fatalf("refs = %+v", plain)
	}
	if _, ok := plain.Measurements["tpm.ak"]; ok {
		t.Fatal("reference values carry the attestation key")
	}
	if len(plain.Measurements) == 0 || len(plain.Measurements) != len(measured.Measurements) {
		t.Fatalf("measurements: %d plain, %d measured", len(plain.Measurements), len(measured.Measurements))
	}
	changed := 0
	for k, v := range plain.Measurements {
		if measured.Measurements[k] != v {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("measuring a file into PCR 9 changed no measurement")
	}
	if _, err := WorkloadRefs(WorkloadTEE{TEE: "tpm-sim", SimSeed: 7}, "", "", issued); hint.CodeOf(err) != hint.CodeUsage {
		t.Fatalf("refs without a name: %v", err)
	}
}
