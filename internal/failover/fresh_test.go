package failover

import (
	"testing"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func id(b byte) repo.ID {
	var x repo.ID
	x[0] = b
	return x
}

// TestWitnessedHeads: the log's newest snapshot per dataset, minus later
// forgets, is what a site's signed state must show.
func TestWitnessedHeads(t *testing.T) {
	e := func(kind, ds string, x repo.ID) tlog.Indexed {
		return tlog.Indexed{Entry: tlog.Entry{Kind: kind, Dataset: ds, Object: x.String()}}
	}
	w := witnessedFrom("o", 6, []tlog.Indexed{
		e(tlog.KindSnapshot, "a", id(1)), e(tlog.KindSnapshot, "a", id(2)), e(tlog.KindForget, "a", id(2)),
		e(tlog.KindSnapshot, "b", id(3)), e(tlog.KindRestore, "b", id(4)),
		{Entry: tlog.Entry{Kind: tlog.KindSnapshot, Dataset: "c", Object: "not an id"}},
	})
	if len(w.Latest) != 2 || w.Latest["a"] != id(1) || w.Latest["b"] != id(3) {
		t.Fatalf("heads %v", w.Latest)
	}
	fresh := &repo.StateBody{Datasets: []repo.StateDataset{{ID: "a", Snapshots: []repo.ID{id(1)}}, {ID: "b", Snapshots: []repo.ID{id(3)}}}}
	if got := w.Behind(fresh); got != nil {
		t.Fatalf("fresh state behind on %v", got)
	}
	later := &repo.StateBody{Datasets: []repo.StateDataset{{ID: "a", Forgotten: []repo.ID{id(1)}}, {ID: "b", Snapshots: []repo.ID{id(3), id(9)}}}}
	if got := w.Behind(later); got != nil {
		t.Fatalf("a later state (a forgotten since) is behind on %v", got)
	}
	stale := &repo.StateBody{Datasets: []repo.StateDataset{{ID: "a", Snapshots: []repo.ID{id(1)}}, {ID: "b"}}}
	if got := w.Behind(stale); len(got) != 1 || got[0] != "b" {
		t.Fatalf("stale state: behind on %v, want [b]", got)
	}
	if got := w.Behind(&repo.StateBody{}); len(got) != 2 {
		t.Fatalf("empty state: behind on %v", got)
	}
}
