package failover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Witnessed is what the home's transparency log, in a checkpoint cosigned
// by its witness quorum, says every dataset's newest live snapshot is: a
// site presenting less is stale or hiding manifests, and is not used.
type Witnessed struct {
	Origin string
	Size   uint64
	Hash   []byte // the copy's root
	// Policy is the trusted log policy the copy was checked against (its
	// witnesses are asked with AskWitnesses).
	Policy *tlog.Policy
	// Latest maps a dataset id to its newest snapshot the log records and
	// no later forget removed.
	Latest map[string]repo.ID
	// Forgotten are snapshots the log records as forgotten.
	Forgotten map[string]map[repo.ID]bool
}

// ReadWitnessed reads a copy of the home's log (a folder holding tiles/,
// as in <home>/log) and checks its checkpoint against policyFile (the log
// key, witnesses and quorum; from the plan, never from the copy). The
// checkpoint must be the log of home.
func ReadWitnessed(ctx context.Context, dir, policyFile, home string) (*Witnessed, error) {
	text, err := os.ReadFile(policyFile)
	if err != nil {
		return nil, fmt.Errorf("log policy: %w", err)
	}
	p, err := tlog.ParsePolicy(text)
	if err != nil {
		return nil, fmt.Errorf("log policy %s: %w", policyFile, err)
	}
	if want := tlog.Origin(home); p.Origin() != want {
		return nil, fmt.Errorf("log policy %s is for log %q, not for home %s (%q)", policyFile, p.Origin(), home, want)
	}
	cp, entries, err := tlog.NewReader(filepath.Clean(dir), p).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", dir, err)
	}
	w := witnessedFrom(cp.Origin, cp.Size, entries)
	w.Hash, w.Policy = cp.Hash, p
	return w, nil
}

func witnessedFrom(origin string, size uint64, entries []tlog.Indexed) *Witnessed {
	w := &Witnessed{Origin: origin, Size: size, Latest: map[string]repo.ID{}, Forgotten: map[string]map[repo.ID]bool{}}
	live := map[string][]repo.ID{}
	for _, ie := range entries {
		e := ie.Entry
		id, err := repo.ParseID(e.Object)
		if e.Dataset == "" || err != nil {
			continue
		}
		switch e.Kind {
		case tlog.KindSnapshot:
			live[e.Dataset] = append(live[e.Dataset], id)
		case tlog.KindForget:
			if w.Forgotten[e.Dataset] == nil {
				w.Forgotten[e.Dataset] = map[repo.ID]bool{}
			}
			w.Forgotten[e.Dataset][id] = true
		}
	}
	for ds, ids := range live {
		for i := len(ids) - 1; i >= 0; i-- {
			if !w.Forgotten[ds][ids[i]] {
				w.Latest[ds] = ids[i]
				break
			}
		}
	}
	return w
}

// Behind returns what a site's signed state misses of the witnessed heads
// (dataset ids, sorted), or nil when it shows at least as much. A state
// that still lists a snapshot as live, or has it as forgotten, is not
// behind for that dataset.
func (w *Witnessed) Behind(st *repo.StateBody) []string {
	var out []string
	for ds, id := range w.Latest {
		d := st.Dataset(ds)
		if d == nil || !(d.Has(id) || d.WasForgotten(id) || d.IsForgetting(id)) {
			out = append(out, ds)
		}
	}
	sort.Strings(out)
	return out
}
