package trace

import (
	"testing"

	"github.com/digital-embassy/embassy/internal/watch"
)

func TestDetectorOnFreshTraces(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 7, 42} {
		tr := Generate(Options{Seed: seed})
		sc := Evaluate(Run(watch.New(watch.Config{}), tr), tr.Labels)
		for _, k := range sc.Kinds {
			t.Logf("seed %d %-26s injected %d detected %d alerts %d false %d ttd %v", seed, k.Kind, k.Injected, k.Detected, k.Alerts, k.FalseAlarm, k.MedianTTD)
		}
		for _, a := range sc.Unlabelled {
			t.Logf("seed %d unlabelled: %s %s", seed, a.Time.Format("Mon 2006-01-02 15:04"), a.Why)
		}
		if sc.Precision < 0.9 || sc.Recall < 0.9 {
			t.Errorf("seed %d: precision %.2f recall %.2f, want both >= 0.9", seed, sc.Precision, sc.Recall)
		}
	}
}
