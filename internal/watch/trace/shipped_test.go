package trace

import (
	"flag"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/digital-embassy/embassy/internal/watch"
)

var update = flag.Bool("update", false, "rewrite the shipped traces in testdata")

// The shipped traces: four weeks of three host sites and four datasets each,
// 20 labelled anomalies of five kinds.
var shipped = []uint64{1, 2}

func shippedPaths(seed uint64) (string, string) {
	base := filepath.Join("..", "testdata", "trace-seed"+itoa(seed))
	return base + ".jsonl.gz", base + ".labels.json"
}

func itoa(n uint64) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + itoa(n%10)
}

func TestShippedTraces(t *testing.T) {
	for _, seed := range shipped {
		ev, lb := shippedPaths(seed)
		if *update {
			if err := Generate(Options{Seed: seed}).Write(ev, lb); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := Read(ev, lb)
		if err != nil {
			t.Fatal(err)
		}
		// The generator is deterministic: the shipped file is what it makes.
		fresh := Generate(Options{Seed: seed})
		if len(fresh.Events) != len(tr.Events) || !reflect.DeepEqual(fresh.Labels, tr.Labels) {
			t.Fatalf("seed %d: testdata differs from the generator (%d vs %d events); run go test -run Shipped -update", seed, len(tr.Events), len(fresh.Events))
		}
		sc := Evaluate(Run(watch.New(watch.Config{}), tr), tr.Labels)
		for _, k := range sc.Kinds {
			t.Logf("seed %d %-26s P %.2f R %.2f ttd %v", seed, k.Kind, k.Precision, k.Recall, k.MedianTTD)
			if k.Injected > 0 && k.Recall < 0.75 {
				t.Errorf("seed %d: %s recall %.2f", seed, k.Kind, k.Recall)
			}
		}
		if sc.Precision < 0.9 || sc.Recall < 0.9 {
			t.Errorf("shipped trace %d: precision %.2f recall %.2f, want >= 0.9", seed, sc.Precision, sc.Recall)
		}
	}
}
