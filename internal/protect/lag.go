package protect

import (
	"context"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
)

// SiteLag is the replication lag of one dataset at one site: the time since
// the newest committed snapshot that site holds.
type SiteLag struct {
	Dataset  string        `json:"dataset"`
	Site     string        `json:"site"`
	Latest   time.Time     `json:"latest,omitzero"` // zero if the site holds none
	Snapshot string        `json:"snapshot,omitempty"`
	Lag      time.Duration `json:"-"`
	LagSec   float64       `json:"lag_seconds"` // +Inf encoded as -1 in JSON
	RPO      time.Duration `json:"-"`
	RPOSec   float64       `json:"rpo_seconds,omitempty"`
	Exceeded bool          `json:"rpo_exceeded"`
	Error    string        `json:"error,omitempty"` // the site could not be listed
}

// Lagger measures lags, remembering snapshot times by ID (manifests are
// immutable and named by their hash, so each is read once).
type Lagger struct {
	mu    sync.Mutex
	times map[repo.ID]time.Time
}

// NewLagger returns an empty Lagger.
func NewLagger() *Lagger { return &Lagger{times: map[repo.ID]time.Time{}} }

// Lags returns the lag of dataset name at every data site of r, as of now.
// A dataset with no snapshots, or a site that can't be listed, has an
// infinite lag.
func (l *Lagger) Lags(ctx context.Context, r *repo.Repo, name string, rpo time.Duration, now time.Time) ([]SiteLag, error) {
	var d *repo.Dataset
	if dk, err := r.Dataset(ctx, name); err == nil {
		if d, err = r.OpenDataset(ctx, dk); err != nil {
			return nil, err
		}
	}
	var out []SiteLag
	for _, s := range r.Sites() {
		if s.MetaOnly {
			continue
		}
		sl := SiteLag{Dataset: name, Site: s.Name, RPO: rpo, RPOSec: rpo.Seconds()}
		switch {
		case s.Backend == nil:
			sl.Error = "site unavailable: " + errString(s.Err())
		case d != nil:
			if err := l.latest(ctx, d, s, &sl); err != nil {
				sl.Error = err.Error()
			}
		}
		sl.Lag = time.Duration(math.MaxInt64)
		if !sl.Latest.IsZero() {
			sl.Lag = max(now.Sub(sl.Latest), 0)
		}
		sl.LagSec = sl.Lag.Seconds()
		if sl.Latest.IsZero() {
			sl.LagSec = -1
		}
		sl.Exceeded = rpo > 0 && sl.Lag > rpo
		out = append(out, sl)
	}
	return out, nil
}

func (l *Lagger) latest(ctx context.Context, d *repo.Dataset, s *repo.Site, sl *SiteLag) error {
	prefix := d.Keys.ID + "/"
	var ids []repo.ID
	err := s.Backend.List(ctx, site.KindSnapshot, func(fi site.Info) error {
		if rest, ok := strings.CutPrefix(fi.Handle.Name, prefix); ok {
			if id, err := repo.ParseID(rest); err == nil {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		l.mu.Lock()
		t, ok := l.times[id]
		l.mu.Unlock()
		if !ok {
			snap, err := d.LoadSnapshot(ctx, id)
			if err != nil {
				continue // not authentic: does not count as committed
			}
			t = snap.Time
			l.mu.Lock()
			l.times[id] = t
			l.mu.Unlock()
		}
		if t.After(sl.Latest) {
			sl.Latest, sl.Snapshot = t, id.String()
		}
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "not opened"
	}
	return err.Error()
}
