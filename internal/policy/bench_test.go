package policy

import (
	"testing"

	"github.com/digital-embassy/embassy/internal/agreement"
)

// BenchmarkDecide measures one decision: a write of a labelled dataset to
// a site hosted under an agreement.
func BenchmarkDecide(b *testing.B) {
	e := testEngine(b)
	r := Request{Action: Write, Dataset: Dataset{Name: "population", Class: "C2-I3-A3"}, Site: testSites(e.Settings())[0], Now: now}
	b.ReportAllocs()
	for b.Loop() {
		if !e.Decide(r).Allow {
			b.Fatal("denied")
		}
	}
}

// BenchmarkDecideDeny measures a denial, which also renders its reasons.
func BenchmarkDecideDeny(b *testing.B) {
	e := testEngine(b)
	r := Request{Action: Write, Dataset: Dataset{Name: "secrets", Class: "secret"}, Site: testSites(e.Settings())[4], Now: now}
	b.ReportAllocs()
	for b.Loop() {
		if e.Decide(r).Allow {
			b.Fatal("allowed")
		}
	}
}

// BenchmarkNew measures building the engine (rules and two agreements).
func BenchmarkNew(b *testing.B) {
	base := agreement.DefaultBaseline()
	ags := []*agreement.Agreement{exampleAgreement(b, "ee-lu"), exampleAgreement(b, "mc-lu")}
	s := DefaultSettings(base)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(s, base, ags); err != nil {
			b.Fatal(err)
		}
	}
}
