package trace

import (
	"testing"

	"github.com/digital-embassy/embassy/internal/watch"
)

// TestManySeeds checks that the detector's quality is not the luck of a few
// seeds: over 30 fresh traces, pooled precision and recall stay >= 0.9 and
// no single trace falls below 0.75.
func TestManySeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("30 traces")
	}
	var tp, fp, det, inj int
	for seed := uint64(100); seed < 130; seed++ {
		tr := Generate(Options{Seed: seed})
		sc := Evaluate(Run(watch.New(watch.Config{}), tr), tr.Labels)
		for _, k := range sc.Kinds {
			tp += k.Alerts - k.FalseAlarm
			fp += k.FalseAlarm
			det += k.Detected
			inj += k.Injected
		}
		if sc.Precision < 0.75 || sc.Recall < 0.75 {
			t.Errorf("seed %d: precision %.2f recall %.2f", seed, sc.Precision, sc.Recall)
			for _, a := range sc.Unlabelled {
				t.Logf("  unlabelled %s %s", a.Time.Format("Mon 01-02 15:04"), a.Why)
			}
		}
	}
	p, r := float64(tp)/float64(tp+fp), float64(det)/float64(inj)
	t.Logf("30 traces: precision %.3f recall %.3f (%d alerts, %d false, %d/%d detected)", p, r, tp+fp, fp, det, inj)
	if p < 0.9 || r < 0.9 {
		t.Errorf("pooled precision %.3f recall %.3f, want >= 0.9", p, r)
	}
}
