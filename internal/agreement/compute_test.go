package agreement

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const reservationsDoc = `
compute:
  crisis-preemption: true
  reservations:
    - name: crisis-inference
      site: lu-1
      accelerator: H100
      gpus: 4
      cpu-cores: 32
      memory-gib: 256
      priority: crisis
      attested: true
    - name: registry-batch
      site: lu-1
      cpu-cores: 16
      memory-gib: 64
sla:
  availability-percent: 99.9
`

// TestReservations: compute reservations parse, resolve their preemption
// right from compute.crisis-preemption, are covered by both signatures
// (changing a quota breaks them) and leave agreements without them signed
// as before.
func TestReservations(t *testing.T) {
	doc := signBoth(t, append(example(t, "ee-lu"), reservationsDoc...))
	a, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(a); err != nil {
		t.Fatal(err)
	}
	want := []Reservation{
		{Name: "crisis-inference", Site: "lu-1", Accelerator: "H100", GPUs: 4, CPUCores: 32, MemoryGiB: 256, Priority: PriorityCrisis, Preempt: true, Attested: true},
		{Name: "registry-batch", Site: "lu-1", CPUCores: 16, MemoryGiB: 64, Priority: PriorityNormal},
	}
	if d := cmp.Diff(want, ReservationsOf(a, DefaultBaseline()), cmpopts.IgnoreFields(Reservation{}, "Line"), cmpopts.IgnoreUnexported(Reservation{})); d != "" {
		t.Fatalf("reservations (-want +got):\n%s", d)
	}
	if got := a.Values["sla.availability-percent"].Float(); got != 99.9 {
		t.Fatalf("availability %v", got)
	}
	altered, err := Parse([]byte(strings.Replace(string(doc), "gpus: 4", "gpus: 8", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(altered); err == nil || !strings.Contains(err.Error(), "altered after signing") {
		t.Fatalf("a changed GPU quota still verifies: %v", err)
	}
	// Withdrawing the baseline's preemption right removes it from the
	// crisis reservation that does not state its own.
	off, err := Parse([]byte(strings.Replace(string(doc), "crisis-preemption: true", "crisis-preemption: false", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if ReservationsOf(off, DefaultBaseline())[0].Preempt {
		t.Fatal("crisis-preemption false still grants preemption")
	}
	// An agreement without reservations signs the same bytes as before
	// this section existed: no compute line at all.
	plain, err := Parse(example(t, "ee-lu"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(SigningBytes(plain)), "compute.") {
		t.Fatalf("signing bytes of an agreement without reservations mention compute:\n%s", SigningBytes(plain))
	}
}

func TestReservationErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"nothing reserved", "compute:\n  reservations:\n    - name: r\n      site: lu-1\n", "reserves nothing"},
		{"gpus without model", "compute:\n  reservations:\n    - name: r\n      site: lu-1\n      gpus: 2\n", "give accelerator"},
		{"bad priority", "compute:\n  reservations:\n    - name: r\n      site: lu-1\n      cpu-cores: 2\n      priority: urgent\n", "not normal or crisis"},
		{"normal preempts", "compute:\n  reservations:\n    - name: r\n      site: lu-1\n      cpu-cores: 2\n      preempt: true\n", "only a crisis-priority"},
		{"twice", "compute:\n  reservations:\n    - name: r\n      site: lu-1\n      cpu-cores: 2\n    - name: r\n      site: lu-1\n      cpu-cores: 2\n", "stated twice"},
		{"unknown field", "compute:\n  reservations:\n    - name: r\n      site: lu-1\n      tpus: 2\n", "unknown field"},
		{"negative", "compute:\n  reservations:\n    - name: r\n      site: lu-1\n      gpus: -1\n      accelerator: H100\n", "not a whole number"},
		{"empty list", "compute:\n  reservations: []\n", "non-empty list"},
		{"percent", "sla:\n  availability-percent: 101\n", "not a percentage"},
		{"percent decimals", "sla:\n  availability-percent: 99.99991\n", "not a percentage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(append(example(t, "ee-lu"), "\n"+tc.doc...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSLAAvailabilityBaseline: a lower availability loosens the baseline.
func TestSLAAvailabilityBaseline(t *testing.T) {
	a, err := Parse(append(example(t, "ee-lu"), "\nsla:\n  availability-percent: 95\n"...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckBaseline(a, DefaultBaseline()); err == nil || !strings.Contains(err.Error(), "sla.availability-percent") {
		t.Fatalf("95%% availability accepted against the 99.5%% baseline: %v", err)
	}
}

func FuzzParseReservations(f *testing.F) {
	f.Add(reservationsDoc)
	f.Add("compute:\n  reservations:\n    - name: r\n      site: s\n      gpus: 1\n      accelerator: A\n")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(append(example(t, "ee-lu"), "\n"+s...))
		if err != nil {
			return
		}
		for _, r := range a.Reservations {
			if r.Name == "" || r.Site == "" || (r.GPUs == 0 && r.CPUCores == 0 && r.MemoryGiB == 0) {
				t.Fatalf("invalid reservation accepted: %+v", r)
			}
		}
		_ = SigningBytes(a)
	})
}
