package compute

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/attest"
)

var (
	crisisRes = agreement.Reservation{Name: "crisis-llm", Site: "lu-1", Accelerator: "H100", GPUs: 4, CPUCores: 16, Priority: agreement.PriorityCrisis, Preempt: true}
	normalRes = agreement.Reservation{Name: "batch", Site: "lu-1", Accelerator: "H100", GPUs: 2, MemoryGiB: 64, Priority: agreement.PriorityNormal}
)

// TestCheckShortfall: outside a crisis the reservations together must fit
// in the trusted capacity; the host's own workloads do not count against
// them.
func TestCheckShortfall(t *testing.T) {
	got := Check(Input{Site: "lu-1", Reservations: []agreement.Reservation{crisisRes, normalRes},
		Capacity:  Capacity{GPUs: map[string]int{"H100": 5}, CPUCores: 64, MemoryGiB: 512},
		Workloads: []Workload{{Name: "host-render", Owner: OwnerHost, Priority: PriorityBestEffort, Accelerator: "H100", GPUs: 5}}})
	want := Result{Site: "lu-1", Shortfalls: []Shortfall{{Reservation: "batch", Resource: "gpu:H100", Need: 2, Have: 1}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if !got.Breach() || !strings.Contains(got.Shortfalls[0].String(), "needs 2 H100 GPUs, 1 available (short 1)") {
		t.Fatalf("breach %v, %s", got.Breach(), got.Shortfalls[0])
	}
	ok := Check(Input{Site: "lu-1", Reservations: []agreement.Reservation{crisisRes, normalRes},
		Capacity: Capacity{GPUs: map[string]int{"H100": 6}, CPUCores: 16, MemoryGiB: 64}})
	if ok.Breach() || len(ok.Shortfalls) != 0 {
		t.Fatalf("capacity that fits: %+v", ok)
	}
}

// TestCheckCrisisPreempts: in a crisis the crisis reservation comes first
// and takes what it lacks from lower-priority workloads, the host's
// best-effort ones before the sending state's normal ones; the normal
// reservation's shortfall is deferred.
func TestCheckCrisisPreempts(t *testing.T) {
	ws := []Workload{
		{Name: "our-batch", Owner: OwnerSending, Reservation: "batch", Priority: PriorityNormal, Accelerator: "H100", GPUs: 2},
		{Name: "host-small", Owner: OwnerHost, Priority: PriorityBestEffort, Accelerator: "H100", GPUs: 1},
		{Name: "host-big", Owner: OwnerHost, Priority: PriorityBestEffort, Accelerator: "H100", GPUs: 3, CPUCores: 8},
		{Name: "host-cpu", Owner: OwnerHost, Priority: PriorityBestEffort, CPUCores: 40},
		{Name: "llm-1", Owner: OwnerSending, Reservation: "crisis-llm", Priority: PriorityCrisis, Accelerator: "H100", GPUs: 1},
	}
	got := Check(Input{Site: "lu-1", Reservations: []agreement.Reservation{normalRes, crisisRes}, Crisis: true,
		Capacity: Capacity{GPUs: map[string]int{"H100": 7}, CPUCores: 64, MemoryGiB: 512}, Workloads: ws})
	// Free: 7-7=0 GPUs, 64-48=16 cores. crisis-llm holds 1 GPU, needs 3
	// more: host-big (3 GPUs, largest best-effort user) yields; cores fit.
	// batch holds its 2 GPUs and needs nothing more.
	want := Result{Site: "lu-1", Crisis: true, Preemptions: []Preemption{{Workload: "host-big", Owner: OwnerHost, Priority: PriorityBestEffort, For: "crisis-llm"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	// With less capacity the sending state's own normal workload yields
	// too, after every best-effort one, and the normal reservation is
	// short but deferred: no breach.
	got = Check(Input{Site: "lu-1", Reservations: []agreement.Reservation{normalRes, crisisRes}, Crisis: true,
		Capacity: Capacity{GPUs: map[string]int{"H100": 4}, CPUCores: 64, MemoryGiB: 512}, Workloads: ws[:4]})
	var names []string
	for _, p := range got.Preemptions {
		names = append(names, p.Workload)
	}
	if d := cmp.Diff([]string{"host-big", "host-small", "our-batch"}, names); d != "" {
		t.Fatalf("preempted (-want +got):\n%s", d)
	}
	if got.Breach() || len(got.Shortfalls) != 1 || !got.Shortfalls[0].Deferred || got.Shortfalls[0].Reservation != "batch" {
		t.Fatalf("shortfalls %+v", got.Shortfalls)
	}
	// Without the preemption right nothing is preempted and the crisis
	// reservation's shortfall is a breach.
	nr := crisisRes
	nr.Preempt = false
	got = Check(Input{Site: "lu-1", Reservations: []agreement.Reservation{nr}, Crisis: true,
		Capacity: Capacity{GPUs: map[string]int{"H100": 4}, CPUCores: 64}, Workloads: ws[1:3]})
	if len(got.Preemptions) != 0 || !got.Breach() {
		t.Fatalf("no preemption right: %+v", got)
	}
}

func recordedEnvelope(t testing.TB) []byte {
	t.Helper()
	rep, err := os.ReadFile(filepath.Join("..", "attest", "testdata", "nvidia", "hopperAttestationReport.txt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(rep)))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := os.ReadFile(filepath.Join("..", "attest", "testdata", "nvidia", "hopper_cert_chain_case1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(attest.Envelope{TEE: attest.NVIDIA, Evidence: raw, Certs: chain})
	return b
}

// The nonce the recorded H100 report binds.
const recordedNonce = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"

// TestVerifyGPUsRecorded: recorded H100 evidence verifies under the nonce
// it binds, counts once however often it is presented, and not at all
// under the home's fresh nonce (a host replaying evidence).
func TestVerifyGPUsRecorded(t *testing.T) {
	ev := recordedEnvelope(t)
	nonce, _ := hex.DecodeString(recordedNonce)
	now := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
	a := VerifyGPUs([][]byte{ev, ev}, nonce, now)
	if a.Devices != 1 || len(a.Refusals) != 1 || !strings.Contains(a.Refusals[0], "same device") {
		t.Fatalf("recorded twice: %+v", a)
	}
	fresh := make([]byte, NonceSize)
	fresh[0] = 1
	if a := VerifyGPUs([][]byte{ev}, fresh, now); a.Devices != 0 || len(a.Refusals) != 1 {
		t.Fatalf("replayed evidence counted: %+v", a)
	}
	if a := VerifyGPUs([][]byte{[]byte(`{"tee":"nvidia","evidence":"AAAA"}`), []byte("nonsense")}, nonce, now); a.Devices != 0 || len(a.Refusals) != 2 {
		t.Fatalf("garbage counted: %+v", a)
	}
}

// TestTrustOverReport: a site declaring more than it measured or attested
// is caught and capped.
func TestTrustOverReport(t *testing.T) {
	r := &Report{Declared: Declared{GPUs: []GPUs{{Model: "H100", Count: 8}}, CPUCores: 128, MemoryGiB: 1024},
		Measured: Measured{CPUCores: 16, MemoryGiB: 62, GPUs: 8, GPUSource: "recorded"}, Evidence: []json.RawMessage{json.RawMessage("{}")}}
	got := Trust(r, Attested{Devices: 1})
	want := Capacity{GPUs: map[string]int{"H100": 1}, AttestedGPUs: map[string]int{"H100": 1}, CPUCores: 16, MemoryGiB: 62}
	if d := cmp.Diff(want, got.Capacity); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if len(got.OverReport) != 3 || !strings.Contains(got.OverReport[0], "declares 8 GPUs, evidence verifies for 1") {
		t.Fatalf("over-reports %q", got.OverReport)
	}
	// Declared only (no evidence, no driver): taken as declared, of which
	// none is attested; memory within the kernel's margin is no over-report.
	r = &Report{Declared: Declared{GPUs: []GPUs{{Model: "H100", Count: 2}, {Model: "L40S", Count: 2}}, CPUCores: 8, MemoryGiB: 64},
		Measured: Measured{CPUCores: 8, MemoryGiB: 62, GPUSource: "none"}}
	got = Trust(r, Attested{})
	if len(got.OverReport) != 0 || got.Capacity.GPUs["L40S"] != 2 || got.Capacity.AttestedGPUs["H100"] != 0 {
		t.Fatalf("declared only: %+v", got)
	}
	// The driver lists fewer GPUs than declared.
	r.Measured = Measured{GPUs: 3, GPUSource: "nvml"}
	got = Trust(r, Attested{})
	if len(got.OverReport) != 1 || got.Capacity.GPUs["H100"]+got.Capacity.GPUs["L40S"] != 3 {
		t.Fatalf("nvml cap: %+v", got)
	}
}

func validReport(nonce []byte) []byte {
	b, _ := json.Marshal(Report{Format: Format, Site: "lu-1", Nonce: hex.EncodeToString(nonce), At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		Declared:  Declared{GPUs: []GPUs{{Model: "H100", Count: 4}}, CPUCores: 32, MemoryGiB: 256},
		Measured:  Measured{CPUCores: 32, MemoryGiB: 256, GPUSource: "none"},
		Workloads: []Workload{{Name: "w", Owner: OwnerHost, Priority: PriorityBestEffort, Accelerator: "H100", GPUs: 1}}})
	return b
}

func TestDecode(t *testing.T) {
	nonce := make([]byte, NonceSize)
	good := validReport(nonce)
	if _, err := Decode(good, "lu-1", nonce); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, NonceSize)
	other[0] = 9
	for _, tc := range []struct{ name, doc, site, want string }{
		{"other site", string(good), "ch-1", "not \"ch-1\""},
		{"replayed", string(good), "lu-1:other", "another challenge"},
		{"unknown field", strings.Replace(string(good), `"format"`, `"extra":1,"format"`, 1), "lu-1", "unknown field"},
		{"negative", strings.Replace(string(good), `"cpu_cores":32`, `"cpu_cores":-3`, 1), "lu-1", "out of range"},
		{"bad owner", strings.Replace(string(good), `"owner":"host"`, `"owner":"nobody"`, 1), "lu-1", "owner"},
		{"bad priority", strings.Replace(string(good), `"best-effort"`, `"urgent"`, 1), "lu-1", "priority"},
		{"format", strings.Replace(string(good), Format, "v0", 1), "lu-1", "format"},
		{"trailing", string(good) + "{}", "lu-1", "trailing"},
		{"stray brace", string(good) + "}", "lu-1", "capacity report refused: trailing data after the report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := nonce
			site := tc.site
			if s, ok := strings.CutSuffix(site, ":other"); ok {
				site, n = s, other
			}
			if _, err := Decode([]byte(tc.doc), site, n); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	nonce := make([]byte, NonceSize)
	f.Add(validReport(nonce))
	f.Add([]byte(`{"format":"embassy-capacity/v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b, "lu-1", nonce)
		if err != nil {
			return
		}
		tr := Trust(r, Attested{})
		for m, n := range tr.Capacity.GPUs {
			if n < 0 || n > maxGPUs {
				t.Fatalf("trusted %d GPUs of %s", n, m)
			}
		}
		Check(Input{Site: r.Site, Capacity: tr.Capacity, Workloads: r.Workloads, Crisis: true,
			Reservations: []agreement.Reservation{crisisRes, normalRes}})
	})
}

func FuzzParseHostConfig(f *testing.F) {
	f.Add([]byte("gpus: [{model: H100, count: 8}]\ncpu-cores: 64\nmemory-gib: 512\nworkloads:\n  - {name: a, owner: host, accelerator: H100, gpus: 2}\n"))
	f.Add([]byte("gpu-source: recorded\ngpu-evidence: [{report: r, chain: c}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseHostConfig(b)
		if err != nil {
			return
		}
		r := c.Report("lu-1", strings.Repeat("00", NonceSize))
		_ = r.Validate() // the daemon refuses what does not validate; it must not panic
	})
}

func FuzzParseWorkloads(f *testing.F) {
	f.Add([]byte("workloads:\n  - {name: w, site: lu-1, governing-law: EE, jurisdictions: [LU]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ws, err := ParseWorkloads(b)
		if err != nil {
			return
		}
		for _, w := range ws {
			if w.GoverningLaw == "" || len(w.Jurisdictions) == 0 || w.Class == "" {
				t.Fatalf("untagged workload accepted: %+v", w)
			}
		}
	})
}

func BenchmarkVerifyGPU(b *testing.B) {
	ev := recordedEnvelope(b)
	nonce, _ := hex.DecodeString(recordedNonce)
	now := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		if VerifyGPUs([][]byte{ev}, nonce, now).Devices != 1 {
			b.Fatal("not verified")
		}
	}
}

// BenchmarkCheckCrisis: a crisis check of 64 reservations against 1024
// running workloads.
func BenchmarkCheckCrisis(b *testing.B) {
	var rs []agreement.Reservation
	for i := range 64 {
		r := normalRes
		if i%4 == 0 {
			r = crisisRes
		}
		r.Name = fmt.Sprintf("r%d", i)
		rs = append(rs, r)
	}
	var ws []Workload
	for i := range 1024 {
		ws = append(ws, Workload{Name: fmt.Sprintf("w%d", i), Owner: OwnerHost, Priority: PriorityBestEffort, Accelerator: "H100", GPUs: 1, CPUCores: 2})
	}
	in := Input{Site: "lu-1", Reservations: rs, Workloads: ws, Crisis: true, Capacity: Capacity{GPUs: map[string]int{"H100": 1024}, CPUCores: 4096, MemoryGiB: 1 << 16}}
	for b.Loop() {
		Check(in)
	}
}
